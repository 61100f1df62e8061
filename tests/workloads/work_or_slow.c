/* A fixed amount of CPU work (argv[1] million iterations of a dependent
 * integer recurrence, default 40), and 20% more of it when argv[2] is
 * "--slow": the deliberate regression of the benchmark-diff tests. The
 * result is printed so the compiler cannot drop the loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    long millions = argc > 1 ? atol(argv[1]) : 40;
    int slow = argc > 2 && strcmp(argv[2], "--slow") == 0;
    unsigned long n = (unsigned long)millions * 1000000UL;
    if (slow)
        n += n / 5;
    unsigned long x = 1;
    for (unsigned long i = 0; i < n; i++)
        x = x * 6364136223846793005UL + 1442695040888963407UL;
    printf("%lu\n", x & 1);
    return 0;
}
