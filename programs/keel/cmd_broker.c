/*
 * cmd_broker.c — rabbitmqctl's commands for keeld: `keel add_user NAME
 * PASS`, `keel set_permissions [-p VHOST] USER CONF WRITE READ`, `keel
 * list_queues [-p VHOST]`, ... They send one JSON request to the running
 * keeld's control socket (see keel_broker_control_path) and print the
 * answer the way rabbitmqctl does: tab-separated columns under a header
 * line, or JSON with --formatter json.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "commands.h"
#include "keel/broker.h"

typedef struct {
    const char *name;
    int min_args, max_args;
    const char *usage;
    const char *columns; /* list commands: default columns, space separated */
} admin_cmd_t;

static const admin_cmd_t admin_cmds[] = {
    {"add_user", 2, 2, "USERNAME PASSWORD", NULL},
    {"delete_user", 1, 1, "USERNAME", NULL},
    {"change_password", 2, 2, "USERNAME NEWPASSWORD", NULL},
    {"set_user_tags", 1, 16, "USERNAME [TAG ...]", NULL},
    {"add_vhost", 1, 1, "VHOST", NULL},
    {"delete_vhost", 1, 1, "VHOST", NULL},
    {"set_permissions", 4, 4, "[-p VHOST] USER CONF WRITE READ", NULL},
    {"clear_permissions", 1, 1, "[-p VHOST] USER", NULL},
    {"list_users", 0, 0, "", "user tags"},
    {"list_vhosts", 0, 0, "", "name"},
    {"list_permissions", 0, 0, "[-p VHOST]", "user configure write read"},
    {"list_queues", 0, 16, "[-p VHOST] [COLUMN ...]", "name messages"},
    {"list_exchanges", 0, 16, "[-p VHOST] [COLUMN ...]", "name type"},
    {"list_bindings", 0, 16, "[-p VHOST] [COLUMN ...]", "source_name source_kind destination_name destination_kind routing_key"},
    {"list_connections", 0, 16, "[COLUMN ...]", "user peer_host vhost channels state"},
    {"list_channels", 0, 16, "[COLUMN ...]", "connection number user messages_unacknowledged"},
    {"list_consumers", 0, 16, "[-p VHOST] [COLUMN ...]", "queue_name channel consumer_tag ack_required prefetch_count"},
    {"status", 0, 0, "", NULL},
};

bool keel_cmd_is_admin(const char *name)
{
    for (size_t i = 0; i < sizeof(admin_cmds) / sizeof(admin_cmds[0]); i++)
        if (strcmp(admin_cmds[i].name, name) == 0)
            return true;
    return false;
}

/* One request, one reply line. Returns the parsed reply or NULL. */
static json_t *request(const char *path, json_t *req)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (fd < 0 || strlen(path) >= sizeof(sa.sun_path)) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    strcpy(sa.sun_path, path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        fprintf(stderr, "keel: cannot reach keeld at %s: %s (is keeld running on that port, as this user?)\n", path,
                strerror(errno));
        close(fd);
        return NULL;
    }
    char *text = json_dumps(req, JSON_COMPACT);
    size_t len = strlen(text);
    text[len] = '\n';
    ssize_t w = write(fd, text, len + 1);
    free(text);
    keel_buf_t in;
    keel_buf_init(&in);
    json_t *out = NULL;
    while (w > 0 && keel_buf_reserve(&in, 4096) == 0) {
        ssize_t n = read(fd, in.base + in.len, in.cap - in.len - 1);
        if (n <= 0)
            break;
        in.len += (size_t)n;
        in.base[in.len] = '\0';
        if (memchr(in.base, '\n', in.len) != NULL) {
            out = json_loads(in.base, JSON_DISABLE_EOF_CHECK, NULL);
            break;
        }
    }
    keel_buf_free(&in);
    close(fd);
    return out;
}

static void print_value(json_t *v)
{
    if (json_is_string(v))
        fputs(json_string_value(v), stdout);
    else if (json_is_true(v))
        fputs("true", stdout);
    else if (json_is_false(v))
        fputs("false", stdout);
    else if (json_is_integer(v))
        printf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (!json_is_null(v)) {
        char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        fputs(t ? t : "", stdout);
        free(t);
    }
}

static void print_table(json_t *rows, const char **cols, size_t ncols)
{
    for (size_t c = 0; c < ncols; c++)
        printf("%s%s", c ? "\t" : "", cols[c]);
    putchar('\n');
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        for (size_t c = 0; c < ncols; c++) {
            if (c)
                putchar('\t');
            print_value(json_object_get(row, cols[c]));
        }
        putchar('\n');
    }
}

int keel_cmd_admin(int argc, char **argv)
{
    const char *name = argv[0];
    const admin_cmd_t *cmd = NULL;
    for (size_t i = 0; i < sizeof(admin_cmds) / sizeof(admin_cmds[0]); i++)
        if (strcmp(admin_cmds[i].name, name) == 0)
            cmd = &admin_cmds[i];
    if (cmd == NULL)
        return 2;
    const char *vhost = NULL, *socket_path = NULL;
    unsigned port = 5672;
    bool json = false, quiet = false;
    const char *args[32];
    int nargs = 0;
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-p") == 0 || strcmp(argv[i], "--vhost") == 0) && i + 1 < argc)
            vhost = argv[++i];
        else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
            port = (unsigned)atoi(argv[++i]);
        else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc)
            socket_path = argv[++i];
        else if (strcmp(argv[i], "--formatter") == 0 && i + 1 < argc)
            json = strcmp(argv[++i], "json") == 0;
        else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0)
            quiet = true;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: keel %s [--port N | --socket PATH] %s\n", name, cmd->usage);
            return 0;
        } else if (nargs < 32)
            args[nargs++] = argv[i];
    }
    bool is_list = cmd->columns != NULL;
    if (!is_list && (nargs < cmd->min_args || nargs > cmd->max_args)) {
        fprintf(stderr, "usage: keel %s [--port N | --socket PATH] %s\n", name, cmd->usage);
        return 2;
    }
    char path[512];
    if (socket_path == NULL) {
        keel_broker_control_path((uint16_t)port, path, sizeof(path));
        socket_path = path;
    }
    json_t *req = json_pack("{s:s}", "cmd", name);
    json_t *jargs = json_array();
    for (int i = 0; !is_list && i < nargs; i++)
        json_array_append_new(jargs, json_string(args[i]));
    json_object_set_new(req, "args", jargs);
    if (vhost != NULL)
        json_object_set_new(req, "vhost", json_string(vhost));
    json_t *rep = request(socket_path, req);
    json_decref(req);
    if (rep == NULL)
        return 1;
    int status = 0;
    if (!json_is_true(json_object_get(rep, "ok"))) {
        fprintf(stderr, "Error: %s\n", json_string_value(json_object_get(rep, "error")));
        status = 1;
    } else if (json || (!is_list && json_object_get(rep, "result"))) {
        json_t *res = json_object_get(rep, "result");
        if (res != NULL) {
            char *t = json_dumps(res, JSON_INDENT(1));
            puts(t ? t : "");
            free(t);
        }
    } else if (is_list) {
        const char *cols[32];
        size_t ncols = 0;
        char defaults[256];
        snprintf(defaults, sizeof(defaults), "%s", cmd->columns);
        if (nargs > 0) {
            for (int i = 0; i < nargs && ncols < 32; i++)
                cols[ncols++] = args[i];
        } else {
            for (char *tok = strtok(defaults, " "); tok && ncols < 32; tok = strtok(NULL, " "))
                cols[ncols++] = tok;
        }
        if (!quiet)
            printf("Listing %s%s%s ...\n", name + 5, vhost || strstr(cmd->usage, "VHOST") ? " for vhost " : "",
                   vhost ? vhost : (strstr(cmd->usage, "VHOST") ? "/" : ""));
        print_table(json_object_get(rep, "result"), cols, ncols);
    }
    json_decref(rep);
    return status;
}
