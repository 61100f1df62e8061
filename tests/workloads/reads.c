/* Reads one byte from /dev/zero N times (argv[1], default 100000) and
 * prints the mean time of one read in nanoseconds: each read passes through
 * ksys_read, so a probe there is hit once per read. The probe-hit
 * benchmark takes the difference with and without the probe. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000;
    int fd = open("/dev/zero", O_RDONLY);
    char c;
    struct timespec a, b;
    if (fd < 0)
        return 1;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++)
        if (read(fd, &c, 1) != 1)
            return 1;
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.1f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
    return 0;
}
