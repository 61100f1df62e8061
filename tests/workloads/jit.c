/* A minimal JIT for profiler tests: copies a counting loop into anonymous
 * executable memory, names it in /tmp/perf-PID.map (the file JIT compilers
 * write for perf), and runs it for about SECONDS of CPU time.
 * Usage: jit SECONDS. x86-64 only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* dec rcx; jnz -5; ret -- with rcx = the first argument (rdi) first:
 * mov rcx, rdi (48 89 f9). */
static const unsigned char spin_code[] = {0x48, 0x89, 0xf9, 0x48, 0xff, 0xc9, 0x75, 0xfb, 0xc3};

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    unsigned char *code = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (code == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    memcpy(code, spin_code, sizeof spin_code);
    char path[64];
    snprintf(path, sizeof path, "/tmp/perf-%d.map", getpid());
    FILE *map = fopen(path, "w");
    if (!map) {
        perror(path);
        return 1;
    }
    fprintf(map, "%lx %zx jit_spin_loop\n", (unsigned long)code, sizeof spin_code);
    fclose(map);
    void (*spin)(unsigned long) = (void (*)(unsigned long))code;
    struct timespec start, now;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start);
    do {
        spin(1000000);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    } while ((now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9 < seconds);
    return 0;
}
