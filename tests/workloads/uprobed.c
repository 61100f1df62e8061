/* Calls hot(i) for i in 0..N (argv[1], default 10) and prints each return
 * value on a line of its own: the target of the uprobe tests, which count
 * hot's hits and compare its return values with what was printed. */
#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline, noclone)) int hot(int i)
{
    /* Negative and positive values, so signedness shows. */
    return (i * 7919) % 1000 - 500;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 10;
    for (int i = 0; i < n; i++)
        printf("%d\n", hot(i));
    return 0;
}
