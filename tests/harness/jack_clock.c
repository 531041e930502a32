/* jack_clock: a native JACK MIDI clock sender and receiver (test harness, not product code).
 *
 *   jack_clock send CLIENT TARGET BPM BEATS JITTER_MS SEED
 *   jack_clock recv CLIENT SOURCE SECONDS
 *
 * send: opens CLIENT with one MIDI output connected to TARGET and plays a MIDI clock on a
 * schedule in CLOCK_MONOTONIC: Start at t0 (0.3 s after start-up), tick n at
 * t0 + n * 60 / (BPM * 24) plus a uniform jitter of +-JITTER_MS, each written at the frame
 * offset of its time in the cycle it falls in (as an interface stamps the wire); Stop after
 * BEATS beats. Prints "t0 SECONDS" as soon as the schedule is fixed, then "sent N".
 * recv: opens CLIENT with one MIDI input connected from SOURCE and prints, for SECONDS,
 * "SECONDS STATUS" for each realtime message (its time from the cycle and frame offset).
 * Times are CLOCK_MONOTONIC (JACK's own clock is moved by the offset read side by side).
 */
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef uint32_t nframes_t;
typedef struct _c client_t;
typedef struct _p port_t;
typedef struct {
    nframes_t time;
    size_t size;
    unsigned char *buffer;
} event_t;
static client_t *(*c_open)(const char *, int, int *, ...);
static int (*c_close)(client_t *);
static int (*set_process)(client_t *, int (*)(nframes_t, void *), void *);
static port_t *(*reg)(client_t *, const char *, const char *, unsigned long, unsigned long);
static const char *(*pname)(const port_t *);
static int (*activate)(client_t *);
static void *(*get_buffer)(port_t *, nframes_t);
static void (*clear)(void *);
static int (*ev_write)(void *, nframes_t, const unsigned char *, size_t);
static uint32_t (*ev_count)(void *);
static int (*ev_get)(event_t *, void *, uint32_t);
static int (*conn)(client_t *, const char *, const char *);
static int (*cycle_times)(const client_t *, nframes_t *, uint64_t *, uint64_t *, float *);
static uint64_t (*jtime)(void);

static client_t *client;
static port_t *port;
static double *sched; /* send: the messages' times (seconds), then their bytes */
static unsigned char *bytes;
static long nmsg;
static atomic_long next_msg;
#define RECV_MAX 200000
static double *rtimes;
static unsigned char *rstatus;
static atomic_long nrecv;

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void window(double *start, double *end)
{
    nframes_t frames;
    uint64_t cur, next;
    float period;
    double a = mono();
    double j = jtime() / 1e6;
    double b = mono();
    double off = (a + b) / 2 - j;
    cycle_times(client, &frames, &cur, &next, &period);
    *start = cur / 1e6 + off;
    *end = next / 1e6 + off;
}

static int process_send(nframes_t n, void *arg)
{
    (void)arg;
    void *buf = get_buffer(port, n);
    clear(buf);
    double start, end;
    window(&start, &end);
    long i = atomic_load(&next_msg);
    nframes_t at = 0;
    while (i < nmsg && sched[i] < end) {
        nframes_t off = sched[i] <= start ? 0 : (nframes_t)((sched[i] - start) / (end - start) * n);
        if (off >= n)
            off = n - 1;
        if (off > at)
            at = off;
        unsigned char b = bytes[i];
        if (ev_write(buf, at, &b, 1) != 0)
            break;
        i++;
    }
    atomic_store(&next_msg, i);
    return 0;
}

static int process_recv(nframes_t n, void *arg)
{
    (void)arg;
    void *buf = get_buffer(port, n);
    uint32_t count = ev_count(buf);
    if (!count)
        return 0;
    double start, end;
    window(&start, &end);
    for (uint32_t k = 0; k < count; k++) {
        event_t ev;
        if (ev_get(&ev, buf, k) != 0 || ev.size < 1)
            continue;
        long r = atomic_load(&nrecv);
        if (r >= RECV_MAX)
            break;
        rtimes[r] = start + (double)ev.time / n * (end - start);
        rstatus[r] = ev.buffer[0];
        atomic_store(&nrecv, r + 1);
    }
    return 0;
}

#define SYM(var, name)                                                                     \
    do {                                                                                   \
        *(void **)(&var) = dlsym(lib, name);                                               \
        if (!var) {                                                                        \
            fprintf(stderr, "libjack lacks %s\n", name);                                   \
            return 1;                                                                      \
        }                                                                                  \
    } while (0)

int main(int argc, char **argv)
{
    int send = argc == 8 && !strcmp(argv[1], "send");
    int recv = argc == 5 && !strcmp(argv[1], "recv");
    if (!send && !recv) {
        fprintf(stderr, "usage: jack_clock send CLIENT TARGET BPM BEATS JITTER_MS SEED\n"
                        "       jack_clock recv CLIENT SOURCE SECONDS\n");
        return 2;
    }
    void *lib = dlopen("libjack.so.0", RTLD_NOW);
    if (!lib) {
        fprintf(stderr, "libjack.so.0 not found\n");
        return 1;
    }
    SYM(c_open, "jack_client_open");
    SYM(c_close, "jack_client_close");
    SYM(set_process, "jack_set_process_callback");
    SYM(reg, "jack_port_register");
    SYM(pname, "jack_port_name");
    SYM(activate, "jack_activate");
    SYM(get_buffer, "jack_port_get_buffer");
    SYM(clear, "jack_midi_clear_buffer");
    SYM(ev_write, "jack_midi_event_write");
    SYM(ev_count, "jack_midi_get_event_count");
    SYM(ev_get, "jack_midi_event_get");
    SYM(conn, "jack_connect");
    SYM(cycle_times, "jack_get_cycle_times");
    SYM(jtime, "jack_get_time");
    int status = 0;
    client = c_open(argv[2], 1 /* JackNoStartServer */, &status);
    if (!client) {
        fprintf(stderr, "cannot open a JACK client (0x%x)\n", status);
        return 1;
    }
    port = reg(client, send ? "out" : "in", "8 bit raw midi", send ? 2 : 1, 0);
    if (send) {
        double bpm = atof(argv[4]), jitter = atof(argv[6]) / 1000.0;
        long beats = atol(argv[5]);
        srand((unsigned)atol(argv[7]));
        long ticks = beats * 24;
        nmsg = ticks + 2;
        sched = malloc(nmsg * sizeof(double));
        bytes = malloc(nmsg);
        set_process(client, process_send, NULL);
        atomic_store(&next_msg, nmsg); /* nothing due until the schedule is fixed */
        if (activate(client) || conn(client, pname(port), argv[3])) {
            fprintf(stderr, "cannot activate or connect to %s\n", argv[3]);
            return 1;
        }
        double t0 = mono() + 0.3, period = 60.0 / (bpm * 24);
        sched[0] = t0;
        bytes[0] = 0xFA;
        for (long i = 0; i < ticks; i++) {
            double j = jitter * (2.0 * rand() / RAND_MAX - 1.0);
            double t = t0 + i * period + j;
            sched[i + 1] = t < sched[i] ? sched[i] : t; /* in order on the wire */
            bytes[i + 1] = 0xF8;
        }
        sched[nmsg - 1] = t0 + ticks * period;
        bytes[nmsg - 1] = 0xFC;
        printf("t0 %.9f\n", t0);
        fflush(stdout);
        atomic_store(&next_msg, 0);
        while (atomic_load(&next_msg) < nmsg)
            usleep(10000);
        usleep(100000);
        printf("sent %ld\n", nmsg);
    } else {
        rtimes = malloc(RECV_MAX * sizeof(double));
        rstatus = malloc(RECV_MAX);
        set_process(client, process_recv, NULL);
        if (activate(client) || conn(client, argv[3], pname(port))) {
            fprintf(stderr, "cannot activate or connect from %s\n", argv[3]);
            return 1;
        }
        printf("ready\n");
        fflush(stdout);
        for (double left = atof(argv[4]); left > 0; left -= 0.1)
            usleep(100000);
        long r = atomic_load(&nrecv);
        for (long i = 0; i < r; i++)
            if (rstatus[i] >= 0xF0)
                printf("%.9f %d\n", rtimes[i], rstatus[i]);
    }
    fflush(stdout);
    c_close(client);
    return 0;
}
