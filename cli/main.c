/* main.c - the docqa command: one table maps subcommand names to functions. */
#include <stdio.h>
int main(void)
{
    puts("docqa");
    return 0;
}
