/* Two processes pass one byte back and forth over two pipes N times
 * (argv[1], default 1000): every round trip blocks each side once, so each
 * is switched out once per round trip. */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000;
    int ping[2], pong[2];
    char byte = 0;
    if (pipe(ping) || pipe(pong))
        return 1;
    pid_t child = fork();
    if (child < 0)
        return 1;
    if (child == 0) {
        for (long i = 0; i < n; i++) {
            if (read(ping[0], &byte, 1) != 1 || write(pong[1], &byte, 1) != 1)
                _exit(1);
        }
        _exit(0);
    }
    /* Let the child reach its first read and block there, so that it too
     * is switched out on every round trip, the first included. */
    usleep(20000);
    for (long i = 0; i < n; i++) {
        if (write(ping[1], &byte, 1) != 1 || read(pong[0], &byte, 1) != 1)
            return 1;
    }
    int status;
    waitpid(child, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
