/* floweq_tui.midi._jackmidi: a minimal JACK MIDI input for the MIDI service.
 *
 * Why not rtmidi's JACK input: its process callback (on the JACK process thread, which
 * every client of the graph waits for) writes a line to std::cerr for every message that
 * finds its queue full, and copies each message into a std::vector. Under a MIDI flood
 * (200k messages/s) those writes stall the whole graph. Here the process callback only
 * copies 1-3 byte messages into a preallocated lock-free ring per port, counts what does
 * not fit, and at most once per cycle wakes the service through an eventfd, and only
 * when the service said it is going to sleep (arm). No allocation, no lock, no log.
 *
 * libjack is loaded with dlopen at run time (no build dependency on JACK headers; the
 * few declarations needed are below, as in <jack/jack.h> and <jack/midiport.h>).
 *
 * The service's side (Python, never on the JACK thread): read(port) drains a ring and,
 * when a flood left more than `collapse` messages, keeps only the last message per
 * (status, first data byte), in the order of those last messages: a flood collapses to
 * the latest value per control, and the ring never stays full for long.
 * The server going away is reported by jack_on_info_shutdown: `gone` and a wake-up.
 *
 * Output ports (feedback to LED rings and motor faders) work the other way round: the
 * service puts messages in the port's ring (send), the process callback writes them into
 * the port's buffer (what does not fit waits for the next cycle). One client for every
 * port: each JACK client is one more thread woken every cycle.
 *
 * MIDI clock (tempo sync, docs/automation.md "Tempo sources"):
 * - in: Clock (0xF8), Start, Continue, Stop and Song Position Pointer from any input port
 *   go to a separate ring with their arrival time, taken on the JACK thread from the
 *   event's frame (jack_frames_to_time of the cycle's frame time plus the event's offset),
 *   converted to CLOCK_MONOTONIC seconds (the offset between JACK's clock and
 *   CLOCK_MONOTONIC is read in the same callback). read_clock() drains it: the stamps say
 *   when the message arrived, not when Python got around to reading it.
 * - out: clock_out(port, bpm, beat_origin, beat_time, running) sets a beat line (the
 *   controls block's tempo slots); the process callback writes 24 Clock messages a beat at
 *   their exact frames on that output port, Start (or Song Position Pointer + Continue)
 *   when the line starts running and Stop when it stops. The settings cross to the JACK
 *   thread through a sequence lock (one writer, the service; the JACK thread never waits:
 *   a torn read keeps the previous settings for that cycle).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ libjack, declared */

typedef uint32_t jack_nframes_t;
typedef struct _jack_client jack_client_t;
typedef struct _jack_port jack_port_t;
typedef unsigned char jack_midi_data_t;
typedef struct {
    jack_nframes_t time;
    size_t size;
    jack_midi_data_t *buffer;
} jack_midi_event_t;
typedef uint64_t jack_time_t;
typedef int (*JackProcessCallback)(jack_nframes_t, void *);
typedef void (*JackInfoShutdownCallback)(int, const char *, void *);
typedef uint32_t jack_port_id_t;
typedef void (*JackPortRegistrationCallback)(jack_port_id_t, int, void *);
typedef void (*JackPortConnectCallback)(jack_port_id_t, jack_port_id_t, int, void *);

enum { JackNoStartServer = 0x01, JackServerName = 0x04 };
enum { JackPortIsInput = 0x1, JackPortIsOutput = 0x2 };
#define MIDI_TYPE "8 bit raw midi"

static struct {
    void *lib;
    jack_client_t *(*client_open)(const char *, int, int *, ...);
    int (*client_close)(jack_client_t *);
    char *(*get_client_name)(jack_client_t *);
    int (*set_process_callback)(jack_client_t *, JackProcessCallback, void *);
    void (*on_info_shutdown)(jack_client_t *, JackInfoShutdownCallback, void *);
    int (*set_port_registration_callback)(jack_client_t *, JackPortRegistrationCallback, void *);
    int (*set_port_connect_callback)(jack_client_t *, JackPortConnectCallback, void *);
    jack_port_t *(*port_register)(jack_client_t *, const char *, const char *, unsigned long,
                                  unsigned long);
    const char *(*port_name)(const jack_port_t *);
    int (*activate)(jack_client_t *);
    int (*deactivate)(jack_client_t *);
    void *(*port_get_buffer)(jack_port_t *, jack_nframes_t);
    uint32_t (*midi_get_event_count)(void *);
    int (*midi_event_get)(jack_midi_event_t *, void *, uint32_t);
    void (*midi_clear_buffer)(void *);
    int (*midi_event_write)(void *, jack_nframes_t, const jack_midi_data_t *, size_t);
    int (*connect)(jack_client_t *, const char *, const char *);
    int (*disconnect)(jack_client_t *, const char *, const char *);
    const char **(*get_ports)(jack_client_t *, const char *, const char *, unsigned long);
    void (*free)(void *);
    /* optional (timing of clock messages): without them the callback's own time is used */
    jack_nframes_t (*last_frame_time)(const jack_client_t *);
    jack_time_t (*frames_to_time)(const jack_client_t *, jack_nframes_t);
    jack_time_t (*get_time)(void);
    jack_nframes_t (*get_sample_rate)(jack_client_t *);
    int (*port_connected)(const jack_port_t *); /* optional: connected() says "unknown" */
} J;

static const char *load_jack(void)
{
    if (J.lib)
        return NULL;
    void *lib = dlopen("libjack.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        return "libjack.so.0 not found (is JACK installed?)";
#define SYM(field, name)                                                                   \
    do {                                                                                   \
        *(void **)(&J.field) = dlsym(lib, name);                                           \
        if (!J.field) {                                                                    \
            dlclose(lib);                                                                  \
            return "libjack.so.0 lacks " name;                                             \
        }                                                                                  \
    } while (0)
    SYM(client_open, "jack_client_open");
    SYM(client_close, "jack_client_close");
    SYM(get_client_name, "jack_get_client_name");
    SYM(set_process_callback, "jack_set_process_callback");
    SYM(on_info_shutdown, "jack_on_info_shutdown");
    SYM(set_port_registration_callback, "jack_set_port_registration_callback");
    SYM(set_port_connect_callback, "jack_set_port_connect_callback");
    SYM(port_register, "jack_port_register");
    SYM(port_name, "jack_port_name");
    SYM(activate, "jack_activate");
    SYM(deactivate, "jack_deactivate");
    SYM(port_get_buffer, "jack_port_get_buffer");
    SYM(midi_get_event_count, "jack_midi_get_event_count");
    SYM(midi_event_get, "jack_midi_event_get");
    SYM(midi_clear_buffer, "jack_midi_clear_buffer");
    SYM(midi_event_write, "jack_midi_event_write");
    SYM(connect, "jack_connect");
    SYM(disconnect, "jack_disconnect");
    SYM(get_ports, "jack_get_ports");
    SYM(free, "jack_free");
#undef SYM
    *(void **)(&J.last_frame_time) = dlsym(lib, "jack_last_frame_time");
    *(void **)(&J.frames_to_time) = dlsym(lib, "jack_frames_to_time");
    *(void **)(&J.get_time) = dlsym(lib, "jack_get_time");
    *(void **)(&J.get_sample_rate) = dlsym(lib, "jack_get_sample_rate");
    *(void **)(&J.port_connected) = dlsym(lib, "jack_port_connected");
    J.lib = lib;
    return NULL;
}

/* ------------------------------------------------------------------ the client */

#define MAX_PORTS 4
#define RING (1u << 16) /* messages per port: 330 ms of a 200k/s flood */
#define MASK (RING - 1u)
#define KEYS (128 * 128) /* (status & 0x7F, data1 & 0x7F): the collapse keys */
#define KEY(r) (((((r) >> 16) & 0x7Fu) << 7) | (((r) >> 8) & 0x7Fu))

typedef struct {
    jack_port_t *port;
    char short_name[128]; /* as registered: the full name is CLIENT:short_name */
    int output; /* an output: the service writes the ring, the JACK thread reads it */
    uint32_t *ring; /* (size << 24) | (b0 << 16) | (b1 << 8) | b2 */
    _Atomic uint32_t head; /* the writer's (input: the JACK thread; output: the service) */
    _Atomic uint32_t tail; /* the reader's */
    _Atomic uint64_t received;
    _Atomic uint64_t dropped;
    uint64_t collapsed; /* the service's side only */
    int dirty; /* JACK thread only: an output's buffer was written last cycle (clear it) */
} Port;

#define AFTER_SKIP (1u << 16) /* a Clock's value: frames were skipped before it (bits 0-15:
                                 their time in 0.1 ms, signed 16-bit) */
#define CLOCK_RING 4096u /* clock messages: 85 s of 24 ppqn at 120 BPM */
#define CLOCK_MASK (CLOCK_RING - 1u)

typedef struct {
    double t;     /* CLOCK_MONOTONIC seconds of the message's frame */
    uint32_t msg; /* status | (SPP value << 8) */
} ClockRec;

typedef struct {
    double bpm, origin, time; /* the beat line: beat(t) = origin + (t - time) * bpm / 60 */
    int running, port;        /* port: an output index, or -1 (no clock out) */
} ClockOut;

typedef struct {
    PyObject_HEAD
    jack_client_t *client;
    jack_client_t *rt; /* the JACK thread's copy: kept until the client is closed (close()
                          clears `client` before the JACK thread has stopped) */
    int efd;
    int nports;
    int active;
    Port ports[MAX_PORTS];
    _Atomic int armed;
    _Atomic int gone;
    _Atomic uint64_t cycles; /* process callbacks run: JACK still runs this client */
    _Atomic int changed; /* a port came, went, or was (dis)connected: the service rescans */
    ClockRec *clock;          /* clock in: written by the JACK thread, read by read_clock */
    _Atomic uint32_t clock_head, clock_tail;
    _Atomic uint64_t clock_dropped;
    _Atomic uint32_t out_seq; /* clock out settings: odd while the service writes them */
    ClockOut out_set;         /* the service's settings (under out_seq) */
    ClockOut out_now;         /* the JACK thread's copy (only the JACK thread touches it) */
    int out_was_running;      /* JACK thread only */
    jack_nframes_t next_f0;   /* JACK thread only: the frame time the next cycle should have */
    int have_f0;              /* JACK thread only */
    int32_t skipped;          /* JACK thread only: frames skipped since the last Clock (xruns) */
    jack_nframes_t last_nframes; /* JACK thread only: the last cycle's size (0: none yet) */
    int64_t out_next_tick;    /* JACK thread only: the next tick (1/24 beat) to send */
    _Atomic uint64_t ticks_sent;
    uint32_t *scratch; /* read(): RING messages */
    int32_t *last;     /* read(): KEYS indexes, for collapsing */
} Client;

static void wake(Client *c)
{
    uint64_t one = 1;
    ssize_t r = write(c->efd, &one, sizeof one); /* non-blocking; a full counter is fine */
    (void)r;
}

static void write_out(Port *port, void *buf)
{
    /* an output's buffer is cleared every cycle; what does not fit waits for the next */
    J.midi_clear_buffer(buf);
    uint32_t tail = atomic_load_explicit(&port->tail, memory_order_relaxed);
    uint32_t head = atomic_load_explicit(&port->head, memory_order_acquire);
    while (tail != head) {
        uint32_t r = port->ring[tail & MASK];
        jack_midi_data_t d[3] = {(jack_midi_data_t)(r >> 16), (jack_midi_data_t)(r >> 8),
                                 (jack_midi_data_t)r};
        if (J.midi_event_write(buf, 0, d, r >> 24) != 0)
            break;
        tail++;
    }
    atomic_store_explicit(&port->tail, tail, memory_order_release);
}

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The cycle's timing: CLOCK_MONOTONIC seconds of its first frame, and seconds a frame. */
typedef struct {
    double t0, dt;
    jack_nframes_t f0; /* the cycle's frame time (0 without jack_last_frame_time) */
} CycleTime;

static CycleTime cycle_time(Client *c, jack_nframes_t nframes)
{
    CycleTime ct;
    double now = mono_now();
    jack_client_t *client = c->rt;
    double sr = J.get_sample_rate ? (double)J.get_sample_rate(client) : 0.0;
    ct.dt = sr > 0.0 ? 1.0 / sr : 1.0 / 48000.0;
    ct.t0 = now;
    ct.f0 = 0;
    if (J.last_frame_time && J.frames_to_time && J.get_time) {
        jack_nframes_t f0 = c->next_f0 - nframes; /* (process() read it this cycle) */
        ct.f0 = f0;
        double off = now - (double)J.get_time() * 1e-6; /* JACK's clock -> CLOCK_MONOTONIC */
        double a = (double)J.frames_to_time(client, f0) * 1e-6 + off;
        double b = (double)J.frames_to_time(client, f0 + nframes) * 1e-6 + off;
        if (isfinite(a) && b > a && b - a < 1.0) {
            ct.t0 = a;
            ct.dt = (b - a) / (double)nframes;
        }
    }
    return ct;
}

static int is_clock(unsigned char s)
{
    return s == 0xF8 || s == 0xFA || s == 0xFB || s == 0xFC || s == 0xF2;
}

static void clock_in(Client *c, const jack_midi_event_t *ev, const CycleTime *ct)
{
    const unsigned char *d = ev->buffer;
    uint32_t msg = d[0];
    if (d[0] == 0xF2) {
        if (ev->size < 3)
            return;
        msg |= (((uint32_t)(d[2] & 0x7F) << 7) | (d[1] & 0x7F)) << 8;
    }
    uint32_t head = atomic_load_explicit(&c->clock_head, memory_order_relaxed);
    uint32_t tail = atomic_load_explicit(&c->clock_tail, memory_order_acquire);
    if (head - tail >= CLOCK_RING) {
        atomic_fetch_add_explicit(&c->clock_dropped, 1, memory_order_relaxed);
        return;
    }
    if (d[0] == 0xF8 && c->skipped) {
        double ms10 = fmax(-32767.0, fmin(32767.0, rint((double)c->skipped * ct->dt * 1e4)));
        msg |= (AFTER_SKIP | ((uint32_t)(int32_t)ms10 & 0xFFFFu)) << 8; /* (bit 16; 0.1 ms) */
        c->skipped = 0;
    }
    c->clock[head & CLOCK_MASK].t = ct->t0 + (double)ev->time * ct->dt;
    c->clock[head & CLOCK_MASK].msg = msg;
    atomic_store_explicit(&c->clock_head, head + 1, memory_order_release);
}

/* Copy the service's clock-out settings if they are not being written (never waits). */
static void clock_out_settings(Client *c)
{
    uint32_t s1 = atomic_load_explicit(&c->out_seq, memory_order_acquire);
    if (s1 & 1u)
        return;
    ClockOut copy = c->out_set;
    atomic_thread_fence(memory_order_acquire);
    uint32_t s2 = atomic_load_explicit(&c->out_seq, memory_order_relaxed);
    if (s1 == s2)
        c->out_now = copy;
}

static void put(void *buf, jack_nframes_t frame, unsigned char a, unsigned char b,
                unsigned char d, size_t size)
{
    jack_midi_data_t m[3] = {a, b, d};
    J.midi_event_write(buf, frame, m, size);
}

/* Write this cycle's clock into an output buffer (after the port's ring: frame order). */
static void clock_out(Client *c, void *buf, jack_nframes_t nframes, const CycleTime *ct)
{
    ClockOut *o = &c->out_now;
    int running = o->running && o->bpm > 0.0 && isfinite(o->bpm);
    double bps = o->bpm / 60.0;
    double beat0 = o->origin + (ct->t0 - o->time) * bps; /* the beat at the first frame */
    if (!isfinite(beat0) || fabs(beat0) > 1e12)
        running = 0; /* (and the tick count stays well inside int64) */
    if (!running) {
        if (c->out_was_running)
            put(buf, 0, 0xFC, 0, 0, 1); /* Stop */
        c->out_was_running = 0;
        return;
    }
    double ticks0 = beat0 * 24.0, ticks_per_frame = bps * 24.0 * ct->dt;
    double ticks1 = ticks0 + ticks_per_frame * (double)nframes;
    int64_t first = (int64_t)ceil(ticks0 - 1e-9);
    if (!c->out_was_running) {
        if (first <= 0) { /* Start: the next Clock is the song's start, at its own frame */
            if (ticks1 <= 0.0)
                return; /* not yet */
            double f = -ticks0 / ticks_per_frame;
            put(buf, f <= 0.0 ? 0 : (jack_nframes_t)f, 0xFA, 0, 0, 1);
            c->out_next_tick = 0;
        } else { /* Song Position Pointer (16ths = 6 ticks) + Continue: the next Clock there */
            int64_t spp = (first + 5) / 6;
            if (spp > 16383)
                spp = 16383;
            put(buf, 0, 0xF2, (unsigned char)(spp & 0x7F), (unsigned char)((spp >> 7) & 0x7F), 3);
            put(buf, 0, 0xFB, 0, 0, 1);
            c->out_next_tick = spp * 6 > first ? spp * 6 : first;
        }
        c->out_was_running = 1;
    } else if (c->out_next_tick < first - 24 || c->out_next_tick > first + 24) {
        c->out_next_tick = first; /* the line jumped (a new anchor): go on from here */
    }
    uint64_t sent = 0;
    while ((double)c->out_next_tick < ticks1) {
        double f = ((double)c->out_next_tick - ticks0) / ticks_per_frame;
        jack_nframes_t frame = f <= 0.0 ? 0 : (jack_nframes_t)f;
        if (frame >= nframes)
            frame = nframes - 1;
        put(buf, frame, 0xF8, 0, 0, 1);
        c->out_next_tick++;
        sent++;
    }
    if (sent)
        atomic_fetch_add_explicit(&c->ticks_sent, sent, memory_order_relaxed);
}

static int process(jack_nframes_t nframes, void *arg)
{
    /* Idle, a cycle is: a counter, the frame time (to notice skipped frames), a look at
     * the clock-out settings, and one buffer look per input. Outputs are touched only when
     * they have something to write or were written last cycle (their buffer must then be
     * cleared once); the cycle's wall-clock timing is worked out only when a clock message
     * arrives or clock out runs. No system call unless input arrived (the eventfd). */
    Client *c = (Client *)arg;
    int added = 0;
    atomic_fetch_add_explicit(&c->cycles, 1, memory_order_relaxed);
    if (J.last_frame_time) {
        jack_nframes_t f0 = J.last_frame_time(c->rt);
        if (c->have_f0 && f0 != c->next_f0) /* frames without a cycle: told with the next Clock */
            c->skipped = (int32_t)fmax(-1e9, fmin(1e9, (double)c->skipped + (int32_t)(f0 - c->next_f0)));
        c->next_f0 = f0 + nframes;
        c->have_f0 = 1;
    }
    CycleTime ct;
    int timed = 0;
    clock_out_settings(c);
    for (int p = 0; p < c->nports; p++) {
        Port *port = &c->ports[p];
        if (port->output) {
            int clocked = c->out_now.port == p && (c->out_now.running || c->out_was_running);
            int queued = atomic_load_explicit(&port->head, memory_order_acquire) !=
                         atomic_load_explicit(&port->tail, memory_order_relaxed);
            if (!clocked && !queued && !port->dirty && nframes == c->last_nframes)
                continue; /* its buffer is empty already: nothing to clear or write */
            void *buf = J.port_get_buffer(port->port, nframes);
            if (!buf)
                continue;
            write_out(port, buf);
            port->dirty = queued;
            if (clocked) {
                if (!timed) {
                    ct = cycle_time(c, nframes);
                    timed = 1;
                }
                clock_out(c, buf, nframes, &ct);
                port->dirty = 1;
            }
            continue;
        }
        void *buf = J.port_get_buffer(port->port, nframes);
        if (!buf)
            continue;
        uint32_t n = J.midi_get_event_count(buf);
        if (!n)
            continue;
        uint32_t head = atomic_load_explicit(&port->head, memory_order_relaxed);
        uint32_t tail = atomic_load_explicit(&port->tail, memory_order_acquire);
        uint32_t kept = 0, lost = 0;
        for (uint32_t i = 0; i < n; i++) {
            jack_midi_event_t ev;
            if (J.midi_event_get(&ev, buf, i) != 0 || ev.size == 0 || ev.size > 3)
                continue; /* sysex and anything longer: not for us */
            const unsigned char *d = ev.buffer;
            unsigned char s = d[0];
            if (is_clock(s)) {
                if (!timed) {
                    ct = cycle_time(c, nframes);
                    timed = 1;
                }
                clock_in(c, &ev, &ct);
                added = 1;
                continue;
            }
            if (s == 0xF0 || s == 0xF1 || s == 0xF7 || s == 0xFE)
                continue; /* sysex, time code, active sensing */
            if (head - tail >= RING) {
                lost++;
                continue;
            }
            uint32_t rec = ((uint32_t)ev.size << 24) | ((uint32_t)s << 16);
            if (ev.size > 1)
                rec |= (uint32_t)d[1] << 8;
            if (ev.size > 2)
                rec |= d[2];
            port->ring[head & MASK] = rec;
            head++;
            kept++;
        }
        atomic_store_explicit(&port->head, head, memory_order_release);
        atomic_fetch_add_explicit(&port->received, kept, memory_order_relaxed);
        if (lost)
            atomic_fetch_add_explicit(&port->dropped, lost, memory_order_relaxed);
        added |= kept != 0;
    }
    c->last_nframes = nframes;
    if (added && atomic_exchange_explicit(&c->armed, 0, memory_order_acq_rel))
        wake(c);
    return 0;
}

static void on_shutdown(int code, const char *reason, void *arg)
{
    (void)code;
    (void)reason;
    Client *c = (Client *)arg;
    atomic_store(&c->gone, 1);
    wake(c);
}

/* The graph changed (JACK's notification thread, not the process thread): the service
 * rescans now instead of polling the port list. */
static void on_port_registration(jack_port_id_t port, int reg, void *arg)
{
    (void)port;
    (void)reg;
    Client *c = (Client *)arg;
    atomic_store(&c->changed, 1);
    wake(c);
}

static void on_port_connect(jack_port_id_t a, jack_port_id_t b, int connect, void *arg)
{
    (void)a;
    (void)b;
    (void)connect;
    Client *c = (Client *)arg;
    atomic_store(&c->changed, 1);
    wake(c);
}

static void client_release(Client *c)
{
    if (c->client) {
        jack_client_t *client = c->client;
        int active = c->active;
        c->client = NULL;
        c->active = 0;
        Py_BEGIN_ALLOW_THREADS
        if (active && !atomic_load(&c->gone))
            J.deactivate(client);
        J.client_close(client);
        Py_END_ALLOW_THREADS
        c->rt = NULL; /* the JACK thread is gone once close returned */
    }
    /* the rings are kept until dealloc: the JACK thread is gone once close returned */
}

static void Client_dealloc(Client *c)
{
    client_release(c);
    if (c->efd >= 0)
        close(c->efd);
    for (int p = 0; p < MAX_PORTS; p++)
        free(c->ports[p].ring);
    free(c->scratch);
    free(c->last);
    free(c->clock);
    Py_TYPE(c)->tp_free((PyObject *)c);
}

static int Client_init(Client *c, PyObject *args, PyObject *kw)
{
    static char *names[] = {"name", "server", NULL};
    const char *name, *server = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "s|z", names, &name, &server))
        return -1;
    const char *why = load_jack();
    if (why) {
        PyErr_SetString(PyExc_OSError, why);
        return -1;
    }
    if (c->client) {
        PyErr_SetString(PyExc_RuntimeError, "already open");
        return -1;
    }
    c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    c->scratch = malloc(RING * sizeof(uint32_t));
    c->last = malloc(KEYS * sizeof(int32_t));
    if (!c->clock)
        c->clock = calloc(CLOCK_RING, sizeof(ClockRec)); /* touched now, not on the RT thread */
    c->out_set.port = c->out_now.port = -1;
    if (c->efd < 0 || !c->scratch || !c->last || !c->clock) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    int status = 0;
    jack_client_t *client;
    Py_BEGIN_ALLOW_THREADS
    if (server)
        client = J.client_open(name, JackNoStartServer | JackServerName, &status, server);
    else
        client = J.client_open(name, JackNoStartServer, &status);
    Py_END_ALLOW_THREADS
    if (!client) {
        PyErr_Format(PyExc_OSError, "cannot open a JACK client (status 0x%x): is the JACK "
                                    "server running?", status);
        return -1;
    }
    c->client = client;
    c->rt = client;
    J.set_process_callback(client, process, c);
    J.on_info_shutdown(client, on_shutdown, c);
    J.set_port_registration_callback(client, on_port_registration, c);
    J.set_port_connect_callback(client, on_port_connect, c);
    return 0;
}

static PyObject *Client_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    (void)args;
    (void)kw;
    Client *c = (Client *)type->tp_alloc(type, 0);
    if (c)
        c->efd = -1;
    return (PyObject *)c;
}

static int check_open(Client *c)
{
    if (!c->client) {
        PyErr_SetString(PyExc_OSError, "the JACK client is closed");
        return 0;
    }
    return 1;
}

static Port *get_port(Client *c, int index)
{
    if (index < 0 || index >= c->nports) {
        PyErr_SetString(PyExc_IndexError, "no such port");
        return NULL;
    }
    return &c->ports[index];
}

static PyObject *add_port(Client *c, PyObject *args, int output)
{
    const char *name;
    if (!PyArg_ParseTuple(args, "s", &name) || !check_open(c))
        return NULL;
    if (c->active || c->nports >= MAX_PORTS) {
        PyErr_SetString(PyExc_RuntimeError, "ports are added before activate (at most 4)");
        return NULL;
    }
    Port *port = &c->ports[c->nports];
    if (!port->ring) {
        port->ring = malloc(RING * sizeof(uint32_t));
        if (!port->ring)
            return PyErr_NoMemory();
        memset(port->ring, 0, RING * sizeof(uint32_t)); /* touched now, not on the RT thread */
    }
    jack_port_t *jp = J.port_register(c->client, name, MIDI_TYPE,
                                      output ? JackPortIsOutput : JackPortIsInput, 0);
    if (!jp) {
        PyErr_Format(PyExc_OSError, "cannot register the JACK MIDI port %s", name);
        return NULL;
    }
    port->port = jp;
    snprintf(port->short_name, sizeof port->short_name, "%s", name);
    port->output = output;
    atomic_store(&port->head, 0);
    atomic_store(&port->tail, 0);
    port->collapsed = 0;
    return PyLong_FromLong(c->nports++);
}

static PyObject *Client_add_input(Client *c, PyObject *args) { return add_port(c, args, 0); }

static PyObject *Client_add_output(Client *c, PyObject *args) { return add_port(c, args, 1); }

static PyObject *Client_send(Client *c, PyObject *args)
{
    int index;
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "iy*", &index, &data))
        return NULL;
    Port *port = get_port(c, index);
    int ok = 0;
    if (port && !port->output)
        PyErr_SetString(PyExc_ValueError, "not an output port");
    else if (port && (data.len < 1 || data.len > 3))
        PyErr_SetString(PyExc_ValueError, "a message is 1-3 bytes");
    else if (port) {
        const unsigned char *d = data.buf;
        uint32_t head = atomic_load_explicit(&port->head, memory_order_relaxed);
        uint32_t tail = atomic_load_explicit(&port->tail, memory_order_acquire);
        if (head - tail < RING) {
            uint32_t r = ((uint32_t)data.len << 24) | ((uint32_t)d[0] << 16);
            if (data.len > 1)
                r |= (uint32_t)d[1] << 8;
            if (data.len > 2)
                r |= d[2];
            port->ring[head & MASK] = r;
            atomic_store_explicit(&port->head, head + 1, memory_order_release);
            ok = 1;
        } else
            atomic_fetch_add_explicit(&port->dropped, 1, memory_order_relaxed);
    }
    PyBuffer_Release(&data);
    if (PyErr_Occurred())
        return NULL;
    return PyBool_FromLong(ok);
}

static PyObject *Client_activate(Client *c, PyObject *noargs)
{
    (void)noargs;
    if (!check_open(c))
        return NULL;
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = J.activate(c->client);
    Py_END_ALLOW_THREADS
    if (r) {
        PyErr_SetString(PyExc_OSError, "cannot activate the JACK client");
        return NULL;
    }
    c->active = 1;
    Py_RETURN_NONE;
}

static PyObject *Client_port_name(Client *c, PyObject *args)
{
    int index;
    if (!PyArg_ParseTuple(args, "i", &index) || !check_open(c))
        return NULL;
    Port *port = get_port(c, index);
    /* from our own names, not jack_port_name(): that read a recycled port's old name
     * ("fq-other:out") once, in a process whose earlier client had closed that port */
    return port ? PyUnicode_FromFormat("%s:%s", J.get_client_name(c->client), port->short_name)
                : NULL;
}

static PyObject *connect_or_not(Client *c, PyObject *args, int on)
{
    const char *src, *dst;
    if (!PyArg_ParseTuple(args, "ss", &src, &dst) || !check_open(c))
        return NULL;
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = on ? J.connect(c->client, src, dst) : J.disconnect(c->client, src, dst);
    Py_END_ALLOW_THREADS
    if (r && !(on && r == EEXIST)) {
        PyErr_Format(PyExc_OSError, "cannot %s %s to %s", on ? "connect" : "disconnect", src,
                     dst);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *Client_connect(Client *c, PyObject *args) { return connect_or_not(c, args, 1); }

static PyObject *Client_disconnect(Client *c, PyObject *args)
{
    return connect_or_not(c, args, 0);
}

static PyObject *Client_ports(Client *c, PyObject *args)
{
    int sources;
    if (!PyArg_ParseTuple(args, "p", &sources) || !check_open(c))
        return NULL;
    const char **names;
    Py_BEGIN_ALLOW_THREADS
    names = J.get_ports(c->client, NULL, MIDI_TYPE, sources ? JackPortIsOutput : JackPortIsInput);
    Py_END_ALLOW_THREADS
    PyObject *out = PyList_New(0);
    if (!out || !names) {
        if (names)
            J.free(names);
        return out;
    }
    for (int i = 0; names[i]; i++) {
        PyObject *s = PyUnicode_DecodeUTF8(names[i], strlen(names[i]), "replace");
        if (!s || PyList_Append(out, s)) {
            Py_XDECREF(s);
            Py_DECREF(out);
            J.free(names);
            return NULL;
        }
        Py_DECREF(s);
    }
    J.free(names);
    return out;
}

static PyObject *Client_read(Client *c, PyObject *args)
{
    int index;
    Py_ssize_t collapse = 256;
    if (!PyArg_ParseTuple(args, "i|n", &index, &collapse))
        return NULL;
    Port *port = get_port(c, index);
    if (!port)
        return NULL;
    if (port->output) {
        PyErr_SetString(PyExc_ValueError, "not an input port");
        return NULL;
    }
    uint32_t tail = atomic_load_explicit(&port->tail, memory_order_relaxed);
    uint32_t head = atomic_load_explicit(&port->head, memory_order_acquire);
    uint32_t n = head - tail;
    for (uint32_t i = 0; i < n; i++)
        c->scratch[i] = port->ring[(tail + i) & MASK];
    atomic_store_explicit(&port->tail, head, memory_order_release);
    uint32_t *msgs = c->scratch;
    uint32_t kept = n;
    if ((Py_ssize_t)n > collapse) { /* a flood: the last message per (status, data1) */
        int32_t *last = c->last;
        for (uint32_t k = 0; k < KEYS; k++)
            last[k] = -1;
        for (uint32_t i = 0; i < n; i++)
            last[KEY(msgs[i])] = (int32_t)i;
        kept = 0;
        for (uint32_t i = 0; i < n; i++)
            if (last[KEY(msgs[i])] == (int32_t)i)
                msgs[kept++] = msgs[i];
        port->collapsed += n - kept;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)kept * 4);
    if (!out)
        return NULL;
    unsigned char *b = (unsigned char *)PyBytes_AS_STRING(out);
    for (uint32_t i = 0; i < kept; i++) {
        uint32_t r = msgs[i];
        b[4 * i] = (unsigned char)(r >> 24);
        b[4 * i + 1] = (unsigned char)(r >> 16);
        b[4 * i + 2] = (unsigned char)(r >> 8);
        b[4 * i + 3] = (unsigned char)r;
    }
    return out;
}

static int pending(Client *c)
{
    if (atomic_load_explicit(&c->clock_head, memory_order_acquire) !=
        atomic_load_explicit(&c->clock_tail, memory_order_relaxed))
        return 1;
    for (int p = 0; p < c->nports; p++) {
        Port *port = &c->ports[p];
        if (!port->output && atomic_load_explicit(&port->head, memory_order_acquire) !=
            atomic_load_explicit(&port->tail, memory_order_relaxed))
            return 1;
    }
    return 0;
}

static PyObject *Client_arm(Client *c, PyObject *noargs)
{
    (void)noargs;
    uint64_t count;
    ssize_t r = read(c->efd, &count, sizeof count); /* forget earlier wake-ups */
    (void)r;
    atomic_store(&c->armed, 1);
    if (pending(c) || atomic_load(&c->gone) || atomic_load(&c->changed)) {
        atomic_store(&c->armed, 0);
        Py_RETURN_FALSE;
    }
    Py_RETURN_TRUE;
}

static PyObject *Client_connected(Client *c, PyObject *args)
{
    int index;
    if (!PyArg_ParseTuple(args, "i", &index) || !check_open(c))
        return NULL;
    Port *port = get_port(c, index);
    if (!port)
        return NULL;
    if (!J.port_connected)
        return PyLong_FromLong(-1);
    int n;
    jack_port_t *jp = port->port;
    Py_BEGIN_ALLOW_THREADS
    n = J.port_connected(jp); /* (libjack may wait for a pending graph change) */
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(n);
}

static PyObject *Client_take_changed(Client *c, PyObject *noargs)
{
    (void)noargs;
    return PyBool_FromLong(atomic_exchange(&c->changed, 0));
}

static PyObject *Client_counts(Client *c, PyObject *args)
{
    int index;
    if (!PyArg_ParseTuple(args, "i", &index))
        return NULL;
    Port *port = get_port(c, index);
    if (!port)
        return NULL;
    return Py_BuildValue("KKK", (unsigned long long)atomic_load(&port->received),
                         (unsigned long long)atomic_load(&port->dropped),
                         (unsigned long long)port->collapsed);
}

static PyObject *Client_read_clock(Client *c, PyObject *noargs)
{
    (void)noargs;
    uint32_t tail = atomic_load_explicit(&c->clock_tail, memory_order_relaxed);
    uint32_t head = atomic_load_explicit(&c->clock_head, memory_order_acquire);
    PyObject *out = PyList_New((Py_ssize_t)(head - tail));
    if (!out)
        return NULL;
    for (uint32_t i = 0; tail + i != head; i++) {
        ClockRec r = c->clock[(tail + i) & CLOCK_MASK];
        PyObject *item = Py_BuildValue("(dII)", r.t, (unsigned)(r.msg & 0xFFu), (unsigned)(r.msg >> 8));
        if (!item) {
            Py_DECREF(out);
            return NULL; /* (the messages stay in the ring) */
        }
        PyList_SET_ITEM(out, (Py_ssize_t)i, item);
    }
    atomic_store_explicit(&c->clock_tail, head, memory_order_release);
    return out;
}

static PyObject *Client_clock_out(Client *c, PyObject *args)
{
    int index, running;
    double bpm, origin, time;
    if (!PyArg_ParseTuple(args, "idddp", &index, &bpm, &origin, &time, &running))
        return NULL;
    if (index >= 0) {
        Port *port = get_port(c, index);
        if (!port)
            return NULL;
        if (!port->output) {
            PyErr_SetString(PyExc_ValueError, "not an output port");
            return NULL;
        }
    }
    if (!(bpm > 0.0 && bpm < 1000.0 && isfinite(origin) && isfinite(time))) {
        PyErr_SetString(PyExc_ValueError, "a tempo in (0, 1000) BPM and a finite beat line");
        return NULL;
    }
    uint32_t seq = atomic_load_explicit(&c->out_seq, memory_order_relaxed);
    atomic_store_explicit(&c->out_seq, seq + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    c->out_set.bpm = bpm;
    c->out_set.origin = origin;
    c->out_set.time = time;
    c->out_set.running = running;
    c->out_set.port = index < 0 ? -1 : index;
    atomic_store_explicit(&c->out_seq, seq + 2, memory_order_release);
    Py_RETURN_NONE;
}

static PyObject *Client_clock_counts(Client *c, PyObject *noargs)
{
    (void)noargs;
    return Py_BuildValue("KK", (unsigned long long)atomic_load(&c->ticks_sent),
                         (unsigned long long)atomic_load(&c->clock_dropped));
}

static PyObject *Client_fileno(Client *c, PyObject *noargs)
{
    (void)noargs;
    return PyLong_FromLong(c->efd);
}

static PyObject *Client_close(Client *c, PyObject *noargs)
{
    (void)noargs;
    client_release(c);
    Py_RETURN_NONE;
}

static PyObject *Client_get_gone(Client *c, void *closure)
{
    (void)closure;
    return PyBool_FromLong(atomic_load(&c->gone));
}

static PyObject *Client_get_name(Client *c, void *closure)
{
    (void)closure;
    if (!check_open(c))
        return NULL;
    return PyUnicode_FromString(J.get_client_name(c->client));
}

static PyObject *Client_get_cycles(Client *c, void *closure)
{
    (void)closure;
    return PyLong_FromUnsignedLongLong(atomic_load_explicit(&c->cycles, memory_order_relaxed));
}

static PyObject *Client_get_closed(Client *c, void *closure)
{
    (void)closure;
    return PyBool_FromLong(c->client == NULL);
}

static PyMethodDef Client_methods[] = {
    {"add_input", (PyCFunction)Client_add_input, METH_VARARGS,
     "add_input(name) -> index: register a MIDI input port (before activate)"},
    {"add_output", (PyCFunction)Client_add_output, METH_VARARGS,
     "add_output(name) -> index: register a MIDI output port (before activate)"},
    {"send", (PyCFunction)Client_send, METH_VARARGS,
     "send(index, bytes) -> False if the output's ring is full (the message is dropped)"},
    {"activate", (PyCFunction)Client_activate, METH_NOARGS, "start processing"},
    {"port_name", (PyCFunction)Client_port_name, METH_VARARGS, "port_name(index) -> full name"},
    {"connect", (PyCFunction)Client_connect, METH_VARARGS, "connect(source, destination)"},
    {"disconnect", (PyCFunction)Client_disconnect, METH_VARARGS,
     "disconnect(source, destination)"},
    {"ports", (PyCFunction)Client_ports, METH_VARARGS,
     "ports(sources) -> MIDI port names (sources: ports that send; else ports that receive)"},
    {"read", (PyCFunction)Client_read, METH_VARARGS,
     "read(index, collapse=256) -> bytes of 4-byte records (size, status, data1, data2); "
     "more than `collapse` pending: the last per (status, data1) only"},
    {"arm", (PyCFunction)Client_arm, METH_NOARGS,
     "about to sleep on fileno(): True, or False when input (or shutdown) is pending"},
    {"counts", (PyCFunction)Client_counts, METH_VARARGS,
     "counts(index) -> (received, dropped because the ring was full, collapsed by read)"},
    {"read_clock", (PyCFunction)Client_read_clock, METH_NOARGS,
     "read_clock() -> [(monotonic seconds, status, value)]: the clock messages received "
     "(Clock, Start, Continue, Stop; Song Position Pointer with its value in 16ths; a "
     "Clock's value has bit 16 set when the server skipped frames since the last one, and "
     "their time in 0.1 ms in bits 0-15, signed), "
     "stamped with their frame's time on the JACK thread"},
    {"clock_out", (PyCFunction)Client_clock_out, METH_VARARGS,
     "clock_out(port, bpm, beat_origin, beat_time, running): send 24 ppqn clock on output "
     "`port` (-1: none) for the beat line origin + (t - time) * bpm / 60 (t: monotonic s)"},
    {"clock_counts", (PyCFunction)Client_clock_counts, METH_NOARGS,
     "clock_counts() -> (clock ticks sent, clock messages dropped because the ring was full)"},
    {"fileno", (PyCFunction)Client_fileno, METH_NOARGS, "the eventfd that input wakes"},
    {"connected", (PyCFunction)Client_connected, METH_VARARGS,
     "connected(index) -> how many ports the port is connected to (-1: libjack cannot say)"},
    {"take_changed", (PyCFunction)Client_take_changed, METH_NOARGS,
     "True once after a port came, went or was (dis)connected on the server (then False)"},
    {"close", (PyCFunction)Client_close, METH_NOARGS, "close the JACK client (idempotent)"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Client_getset[] = {
    {"gone", (getter)Client_get_gone, NULL, "the JACK server shut the client down", NULL},
    {"name", (getter)Client_get_name, NULL, "the client's name (JACK may add -01)", NULL},
    {"closed", (getter)Client_get_closed, NULL, "close() was called", NULL},
    {"cycles", (getter)Client_get_cycles, NULL, "process cycles JACK has run this client for",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ClientType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "floweq_tui.midi._jackmidi.Client",
    .tp_basicsize = sizeof(Client),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Client(name, server=None): a JACK client with MIDI inputs read without a "
              "Python callback",
    .tp_new = Client_new,
    .tp_init = (initproc)Client_init,
    .tp_dealloc = (destructor)Client_dealloc,
    .tp_methods = Client_methods,
    .tp_getset = Client_getset,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_jackmidi",
    "A minimal JACK MIDI input: lock-free rings filled on the JACK thread, an eventfd wake-up.",
    -1, NULL, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__jackmidi(void)
{
    if (PyType_Ready(&ClientType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    Py_INCREF(&ClientType);
    if (PyModule_AddObject(m, "Client", (PyObject *)&ClientType) < 0) {
        Py_DECREF(&ClientType);
        Py_DECREF(m);
        return NULL;
    }
    PyModule_AddIntConstant(m, "RING", RING);
    return m;
}
