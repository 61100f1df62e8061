/* Opens each file named on the command line, keeps it open, and prints
 * "PATH FD" for it: the kprobe tests compare the file names a probe on
 * do_sys_openat2 fetched, and the return values a kretprobe fetched, with
 * what the program opened and got. */
#include <fcntl.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        printf("%s %d\n", argv[i], open(argv[i], O_RDONLY));
    return 0;
}
