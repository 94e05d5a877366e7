/*
 * commands.h — the one list of `keel` subcommands: name, entry point, one
 * line of help. Each module's command lives in programs/keel/cmd_<name>.c.
 */
#ifndef KEEL_PROGRAMS_COMMANDS_H
#define KEEL_PROGRAMS_COMMANDS_H

/* Each entry point gets argv with argv[0] = "keel <name>" and returns the
 * process exit status. */
#define KEEL_COMMAND_MAP(XX)                                                                                                   \
    XX(conf, "configuration: dump, sample, validate, show (oslo.config)")                                                      \
    XX(policy, "policy rules: check, explain, lint, convert, sample (oslo.policy)")                                          \
    XX(rpc, "RPC: call, cast, serve a diagnostic endpoint (oslo.messaging)")                                                  \
    XX(notify, "notifications: send, listen (oslo.messaging)")

#define KEEL_COMMAND_DECL_(name, help) int keel_cmd_##name(int argc, char **argv);
KEEL_COMMAND_MAP(KEEL_COMMAND_DECL_)
#undef KEEL_COMMAND_DECL_

#include <stdbool.h>

/* rabbitmqctl's commands for keeld (add_user, list_queues, ...), handled
 * by cmd_broker.c; argv[0] is the command's own name. */
bool keel_cmd_is_admin(const char *name);
int keel_cmd_admin(int argc, char **argv);

#endif
