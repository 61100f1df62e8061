/* Maps N fresh anonymous pages (argv[1], default 1000) and writes one byte
 * to each, so each write faults a new page in: at least N page faults.
 * Exits with argv[2] (default 0), for exit-status tests. */
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000;
    int code = argc > 2 ? atoi(argv[2]) : 0;
    long page = sysconf(_SC_PAGESIZE);
    /* MAP_POPULATE is not given, and transparent huge pages are refused,
     * so every page is faulted in separately. */
    char *mem = mmap(NULL, n * page, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return 100;
    madvise(mem, n * page, MADV_NOHUGEPAGE);
    for (long i = 0; i < n; i++)
        ((volatile char *)mem)[i * page] = 1;
    munmap(mem, n * page);
    return code;
}
