/* jack_floor: the cheapest JACK MIDI client there is (benchmarks/jack_floor.py, not product
 * code): one MIDI input and one MIDI output port, a process callback that returns at once.
 * What its thread costs while the server runs it every period is the floor of any client.
 *
 *   jack_floor CLIENT
 *
 * Runs until SIGTERM. libjack is dlopen'ed (no JACK headers needed).
 */
#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

typedef uint32_t nframes_t;
typedef struct _c client_t;
typedef struct _p port_t;

static volatile sig_atomic_t stop;

static int process(nframes_t n, void *arg)
{
    (void)n;
    (void)arg;
    return 0;
}

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: jack_floor CLIENT\n");
        return 2;
    }
    void *lib = dlopen("libjack.so.0", RTLD_NOW);
    if (!lib) {
        fprintf(stderr, "jack_floor: libjack.so.0 not found\n");
        return 1;
    }
    client_t *(*c_open)(const char *, int, int *, ...) = dlsym(lib, "jack_client_open");
    int (*c_close)(client_t *) = dlsym(lib, "jack_client_close");
    int (*set_process)(client_t *, int (*)(nframes_t, void *), void *) =
        dlsym(lib, "jack_set_process_callback");
    port_t *(*reg)(client_t *, const char *, const char *, unsigned long, unsigned long) =
        dlsym(lib, "jack_port_register");
    int (*activate)(client_t *) = dlsym(lib, "jack_activate");
    if (!c_open || !c_close || !set_process || !reg || !activate) {
        fprintf(stderr, "jack_floor: libjack lacks a symbol\n");
        return 1;
    }
    int status = 0;
    client_t *c = c_open(argv[1], 0x01, &status); /* JackNoStartServer */
    if (!c) {
        fprintf(stderr, "jack_floor: cannot open a client (0x%x)\n", status);
        return 1;
    }
    set_process(c, process, NULL);
    reg(c, "in", "8 bit raw midi", 0x1, 0);
    reg(c, "out", "8 bit raw midi", 0x2, 0);
    if (activate(c)) {
        fprintf(stderr, "jack_floor: cannot activate\n");
        return 1;
    }
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    printf("ready\n");
    fflush(stdout);
    while (!stop)
        pause();
    c_close(c);
    return 0;
}
