/* sup_cli — the `nemomq` command line: console, start, stop, restart, ping,
 * config check|doc, version.  Each command is a row of a table in sup_cli.c. */
#ifndef SUP_CLI_H
#define SUP_CLI_H

int sup_cli_main(int argc, char **argv);

#endif
