/* jack_flood: a native JACK MIDI flood generator (test harness, not product code).
 *
 *   jack_flood CLIENT TARGET RATE SECONDS CC LAST [SINK]
 *
 * Opens CLIENT with one MIDI output, connects it to TARGET, and for SECONDS writes RATE
 * control changes per second (CC number CC, channel 1, values counting 0..127), spread over
 * each cycle, then a CC with value LAST in each of the next 8 cycles. Prints "sent N"
 * (messages JACK took: a full port buffer refuses the rest) and "rate R" (per second), then
 * exits. mido/rtmidi from Python cannot come near 200k messages/s; this writes from the
 * process callback, as a loop through other software would. libjack is dlopen'ed (no JACK
 * headers needed).
 *
 * With SINK, a second client of that name (its own real-time thread, as TARGET's) gets a
 * MIDI input fed by the same output and reads every event in its callback: a native
 * reader in TARGET's place in the graph (after CLIENT), whose missed cycles are the
 * machine's share there. It prints "sink N" (events it read) too.
 */
#include <dlfcn.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef uint32_t nframes_t;
typedef struct _c client_t;
typedef struct _p port_t;
static client_t *(*c_open)(const char *, int, int *, ...);
static int (*c_close)(client_t *);
static int (*set_process)(client_t *, int (*)(nframes_t, void *), void *);
static port_t *(*reg)(client_t *, const char *, const char *, unsigned long, unsigned long);
static const char *(*pname)(const port_t *);
static int (*activate)(client_t *);
static void *(*get_buffer)(port_t *, nframes_t);
static void (*clear)(void *);
static int (*ev_write)(void *, nframes_t, const unsigned char *, size_t);
static int (*conn)(client_t *, const char *, const char *);
static nframes_t (*srate)(client_t *);

static port_t *out, *sink_in;
static atomic_llong sunk;
static uint32_t (*ev_count)(void *);
static double per_frame;
static long long total_frames, end_frames;
static double due;
static atomic_llong sent;
static atomic_int phase; /* 0 flooding, 1 last value written, 2 done */
static int cc, last, last_cycles;
#define LAST_CYCLES 8

static int process(nframes_t n, void *arg)
{
    (void)arg;
    void *buf = get_buffer(out, n);
    clear(buf);
    int ph = atomic_load(&phase);
    if (ph == 0) {
        due += per_frame * n;
        long long k = (long long)due;
        due -= (double)k;
        long long s = atomic_load(&sent);
        for (long long i = 0; i < k; i++) {
            unsigned char m[3] = {0xB0, (unsigned char)cc, (unsigned char)((s + i) & 0x7F)};
            if (ev_write(buf, (nframes_t)(i * n / k), m, 3) == 0)
                atomic_fetch_add(&sent, 1);
        }
        total_frames += n;
        if (total_frames >= end_frames)
            atomic_store(&phase, 1);
    } else if (ph == 1) {
        /* the last value in LAST_CYCLES cycles in a row: JACK drops a cycle's events when
         * their reader misses it, and a lost last value would look like ours */
        unsigned char m[3] = {0xB0, (unsigned char)cc, (unsigned char)last};
        if (ev_write(buf, 0, m, 3) == 0) {
            atomic_fetch_add(&sent, 1);
            if (++last_cycles == LAST_CYCLES)
                atomic_store(&phase, 2);
        }
    }
    return 0;
}

typedef struct {
    nframes_t time;
    size_t size;
    unsigned char *buffer;
} event_t;
static int (*ev_get)(event_t *, void *, uint32_t);

static int sink_process(nframes_t n, void *arg)
{
    (void)arg;
    void *buf = get_buffer(sink_in, n);
    uint32_t k = ev_count(buf);
    long long got = 0;
    for (uint32_t i = 0; i < k; i++) {
        event_t ev;
        if (ev_get(&ev, buf, i) == 0 && ev.size == 3 && (ev.buffer[0] & 0xF0) == 0xB0)
            got++;
    }
    if (got)
        atomic_fetch_add(&sunk, got);
    return 0;
}

#define SYM(v, name)                                                                       \
    if (!(*(void **)(&v) = dlsym(lib, name))) {                                            \
        fprintf(stderr, "jack_flood: no %s\n", name);                                      \
        return 2;                                                                          \
    }

int main(int argc, char **argv)
{
    if (argc != 7 && argc != 8) {
        fprintf(stderr, "usage: jack_flood CLIENT TARGET RATE SECONDS CC LAST [SINK]\n");
        return 2;
    }
    void *lib = dlopen("libjack.so.0", RTLD_NOW);
    if (!lib) {
        fprintf(stderr, "jack_flood: libjack.so.0 not found\n");
        return 2;
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
    SYM(conn, "jack_connect");
    SYM(srate, "jack_get_sample_rate");
    SYM(ev_count, "jack_midi_get_event_count");
    SYM(ev_get, "jack_midi_event_get");
    double rate = atof(argv[3]), seconds = atof(argv[4]);
    cc = atoi(argv[5]);
    last = atoi(argv[6]);
    int status = 0;
    client_t *client = c_open(argv[1], 1 /* JackNoStartServer */, &status);
    if (!client) {
        fprintf(stderr, "jack_flood: no JACK server (status 0x%x)\n", status);
        return 1;
    }
    double sr = srate(client);
    per_frame = rate / sr;
    end_frames = (long long)(seconds * sr);
    out = reg(client, "out", "8 bit raw midi", 0x2 /* JackPortIsOutput */, 0);
    phase = 3; /* not before connected */
    set_process(client, process, NULL);
    if (!out || activate(client)) {
        fprintf(stderr, "jack_flood: cannot activate\n");
        return 1;
    }
    if (conn(client, pname(out), argv[2])) {
        fprintf(stderr, "jack_flood: cannot connect to %s\n", argv[2]);
        return 1;
    }
    client_t *sink = NULL;
    if (argc == 8) {
        sink = c_open(argv[7], 1, &status);
        sink_in = sink ? reg(sink, "in", "8 bit raw midi", 0x1 /* JackPortIsInput */, 0) : NULL;
        if (!sink || !sink_in || set_process(sink, sink_process, NULL) || activate(sink) ||
            conn(client, pname(out), pname(sink_in))) {
            fprintf(stderr, "jack_flood: cannot start the sink %s\n", argv[7]);
            return 1;
        }
    }
    struct timespec t0, t1, nap = {0, 10000000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    atomic_store(&phase, 0);
    while (atomic_load(&phase) != 2)
        nanosleep(&nap, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    nanosleep(&nap, NULL); /* the cycle that carries the last value */
    nanosleep(&nap, NULL);
    double took = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    long long n = atomic_load(&sent);
    printf("sent %lld\nrate %.0f\n", n, n / took);
    if (sink)
        printf("sink %lld\n", (long long)atomic_load(&sunk));
    fflush(stdout);
    if (sink)
        c_close(sink);
    c_close(client);
    return 0;
}
