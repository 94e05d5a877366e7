/*
 * main.c — `keel`, the one command-line tool: dispatches to a subcommand
 * per module (commands.h), like git or rabbitmqctl.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} commands[] = {
#define XX(name, help) {#name, keel_cmd_##name, help},
    KEEL_COMMAND_MAP(XX)
#undef XX
};

static void usage(FILE *f)
{
    fprintf(f, "usage: keel COMMAND [ARGS...]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "  add_user, delete_user, change_password, set_user_tags, add_vhost, delete_vhost,\n"
               "  set_permissions, clear_permissions, list_users, list_vhosts, list_permissions,\n"
               "  list_queues, list_exchanges, list_bindings, list_connections, list_channels,\n"
               "  list_consumers, status\n"
               "             administer a running keeld, as rabbitmqctl (--port N selects the broker)\n");
    fprintf(f, "\n`keel COMMAND --help` describes one command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("keel %s\n", KEEL_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            char name[64];
            snprintf(name, sizeof(name), "keel %s", commands[i].name);
            argv[1] = name;
            return commands[i].run(argc - 1, argv + 1);
        }
    }
    if (keel_cmd_is_admin(argv[1]))
        return keel_cmd_admin(argc - 1, argv + 1);
    fprintf(stderr, "keel: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
