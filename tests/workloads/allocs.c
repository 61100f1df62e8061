/* allocs N [PATH]: opens PATH (default /etc/hostname), reads it and
 * closes it, then makes a pipe, writes a byte into it and closes it, N
 * times. Each round allocates and frees kernel memory through both slab
 * paths and the page allocator: the open file and the file name come from
 * kmem caches (kmem:kmem_cache_alloc), the pipe's bookkeeping from kmalloc
 * (kmem:kmalloc), and the byte written needs a page (kmem:mm_page_alloc);
 * closing frees them all. The kmem tests and the kmem benchmark record it. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000;
    const char *path = argc > 2 ? argv[2] : "/etc/hostname";
    char buf[256];
    for (long i = 0; i < n; i++) {
        int fd = open(path, O_RDONLY);
        if (fd < 0) {
            perror(path);
            return 1;
        }
        if (read(fd, buf, sizeof buf) < 0)
            return 1;
        close(fd);
        int p[2];
        if (pipe(p) == 0) {
            if (write(p[1], "x", 1) != 1)
                return 1;
            close(p[0]);
            close(p[1]);
        }
    }
    return 0;
}
