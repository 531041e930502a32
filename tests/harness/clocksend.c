/* clocksend: a MIDI clock sender for tests and benchmarks (another process, a real JACK
 * MIDI port), timed on its JACK thread so the reference itself is accurate.
 *
 *   clocksend NAME BPM [DEST]   (JACK_DEFAULT_SERVER picks the server)
 *
 * Registers NAME:out, connects it to DEST if given, and reads commands on stdin, one a
 * line, applied at the next JACK cycle:
 *   start          Start, then 24 Clocks a beat from tick 0 (the first Clock is beat 0)
 *   stop           Stop (no Clocks while stopped)
 *   spp N          Song Position Pointer N (16ths) while stopped
 *   continue       Continue from the position (the next Clock is at it)
 *   bpm X          a new tempo (from the next tick on)
 *   quit
 * Prints "ready" once connected, and "beat K T S" for every beat K (tick 24 K) it sends, T
 * the CLOCK_MONOTONIC seconds of the frame the Clock was written at (JACK's frame time
 * converted as floweq-tui converts it), S the frames the server skipped for this client
 * (cycles it was not run for: its Clocks fall behind by them) since the Clock before.
 *
 * Build: cc -O2 -o clocksend clocksend.c -ldl -lm (libjack is dlopen'ed: no headers).
 */
#include <dlfcn.h>
#include <math.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef uint32_t nframes_t;
typedef struct _jc jc_t;
typedef struct _jp jp_t;
static jc_t *(*j_open)(const char *, int, int *, ...);
static int (*j_close)(jc_t *);
static int (*j_set_process)(jc_t *, int (*)(nframes_t, void *), void *);
static jp_t *(*j_port_register)(jc_t *, const char *, const char *, unsigned long, unsigned long);
static const char *(*j_port_name)(const jp_t *);
static int (*j_activate)(jc_t *);
static void *(*j_get_buffer)(jp_t *, nframes_t);
static void (*j_clear)(void *);
static int (*j_write)(void *, nframes_t, const unsigned char *, size_t);
static int (*j_connect)(jc_t *, const char *, const char *);
static nframes_t (*j_sample_rate)(jc_t *);
static nframes_t (*j_last_frame_time)(const jc_t *);
static uint64_t (*j_frames_to_time)(const jc_t *, nframes_t);
static uint64_t (*j_get_time)(void);

static jc_t *client;
static jp_t *port;
static double sr;
/* commands: main thread -> JACK thread */
static _Atomic int cmd;   /* 0 none, 1 start, 2 stop, 3 continue, 4 spp */
static _Atomic int cmd_arg;
static _Atomic uint64_t bpm_bits;
/* state: JACK thread only */
static int running;
static int64_t tick;       /* the next tick's position */
static double next_frame;  /* frames until the next tick, from the cycle's start */
static nframes_t next_f0;  /* the frame time the next cycle should have */
static long skipped;       /* frames skipped since the last Clock */
/* beats: JACK thread -> main thread */
#define BEATS 4096
static struct { int64_t k; double t; long s; } beats[BEATS];
static _Atomic uint32_t bh, bt;

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double get_bpm(void)
{
    uint64_t b = atomic_load(&bpm_bits);
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

static int process(nframes_t n, void *arg)
{
    (void)arg;
    void *buf = j_get_buffer(port, n);
    j_clear(buf);
    double now = mono();
    double off = now - j_get_time() * 1e-6;
    nframes_t f0 = j_last_frame_time(client);
    double t0 = j_frames_to_time(client, f0) * 1e-6 + off;
    double t1 = j_frames_to_time(client, f0 + n) * 1e-6 + off;
    double dt = (t1 - t0) / n;
    if (next_f0 && f0 != next_f0)
        skipped += (int32_t)(f0 - next_f0);
    next_f0 = f0 + n;
    int c = atomic_exchange(&cmd, 0);
    unsigned char m[3];
    if (c == 1 || c == 3) {
        m[0] = c == 1 ? 0xFA : 0xFB;
        j_write(buf, 0, m, 1);
        if (c == 1)
            tick = 0;
        running = 1;
        next_frame = 1.0; /* the first Clock one frame after Start */
    } else if (c == 2) {
        m[0] = 0xFC;
        j_write(buf, 0, m, 1);
        running = 0;
    } else if (c == 4 && !running) {
        int v = atomic_load(&cmd_arg);
        m[0] = 0xF2;
        m[1] = v & 0x7F;
        m[2] = (v >> 7) & 0x7F;
        j_write(buf, 0, m, 3);
        tick = (int64_t)v * 6;
    }
    if (running) {
        double per_tick = sr * 60.0 / (get_bpm() * 24.0);
        while (next_frame < n) {
            nframes_t f = (nframes_t)next_frame;
            m[0] = 0xF8;
            j_write(buf, f, m, 1);
            if (tick % 24 == 0) {
                uint32_t h = atomic_load(&bh);
                if (h - atomic_load(&bt) < BEATS) {
                    beats[h % BEATS].k = tick / 24;
                    beats[h % BEATS].t = t0 + f * dt;
                    beats[h % BEATS].s = skipped;
                    atomic_store(&bh, h + 1);
                }
            }
            skipped = 0;
            tick++;
            next_frame += per_tick;
        }
        next_frame -= n;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: clocksend NAME BPM [DEST]\n");
        return 2;
    }
    void *lib = dlopen("libjack.so.0", RTLD_NOW);
    if (!lib) {
        fprintf(stderr, "no libjack.so.0\n");
        return 1;
    }
#define S(v, n) *(void **)(&v) = dlsym(lib, n)
    S(j_open, "jack_client_open"); S(j_close, "jack_client_close");
    S(j_set_process, "jack_set_process_callback"); S(j_port_register, "jack_port_register");
    S(j_port_name, "jack_port_name"); S(j_activate, "jack_activate");
    S(j_get_buffer, "jack_port_get_buffer"); S(j_clear, "jack_midi_clear_buffer");
    S(j_write, "jack_midi_event_write"); S(j_connect, "jack_connect");
    S(j_sample_rate, "jack_get_sample_rate"); S(j_last_frame_time, "jack_last_frame_time");
    S(j_frames_to_time, "jack_frames_to_time"); S(j_get_time, "jack_get_time");
    double bpm = atof(argv[2]);
    uint64_t b;
    memcpy(&b, &bpm, sizeof b);
    atomic_store(&bpm_bits, b);
    int status = 0;
    client = j_open(argv[1], 1 /* JackNoStartServer */, &status);
    if (!client) {
        fprintf(stderr, "cannot open a JACK client (0x%x)\n", status);
        return 1;
    }
    sr = j_sample_rate(client);
    port = j_port_register(client, "out", "8 bit raw midi", 0x2 /* output */, 0);
    j_set_process(client, process, NULL);
    if (!port || j_activate(client)) {
        fprintf(stderr, "cannot register or activate\n");
        return 1;
    }
    if (argc > 3 && j_connect(client, j_port_name(port), argv[3])) {
        fprintf(stderr, "cannot connect to %s\n", argv[3]);
        return 1;
    }
    printf("ready %s\n", j_port_name(port));
    fflush(stdout);
    char line[256];
    struct pollfd pfd = {0, POLLIN, 0};
    for (;;) {
        while (atomic_load(&bt) != atomic_load(&bh)) {
            uint32_t t = atomic_load(&bt);
            printf("beat %lld %.9f %ld\n", (long long)beats[t % BEATS].k, beats[t % BEATS].t,
                   beats[t % BEATS].s);
            atomic_store(&bt, t + 1);
        }
        fflush(stdout);
        if (poll(&pfd, 1, 10) <= 0)
            continue;
        if (!fgets(line, sizeof line, stdin) || !strncmp(line, "quit", 4))
            break;
        if (!strncmp(line, "start", 5))
            atomic_store(&cmd, 1);
        else if (!strncmp(line, "stop", 4))
            atomic_store(&cmd, 2);
        else if (!strncmp(line, "continue", 8))
            atomic_store(&cmd, 3);
        else if (!strncmp(line, "spp ", 4)) {
            atomic_store(&cmd_arg, atoi(line + 4));
            atomic_store(&cmd, 4);
        } else if (!strncmp(line, "bpm ", 4)) {
            double v = atof(line + 4);
            memcpy(&b, &v, sizeof b);
            atomic_store(&bpm_bits, b);
        }
        while (atomic_load(&cmd)) /* one command a cycle */
            usleep(1000);
    }
    j_close(client);
    return 0;
}
