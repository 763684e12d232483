/*
 * The interop suite's driver for ZooKeeper's C client (libzookeeper_mt).
 *
 * Reads scenario lines (interop/script.py's format) on stdin and answers each
 * with one JSON line on stdout, like drivers/java/ZkDriver.java:
 *   @begin HOSTS ROOT    start a scenario: actors connect to HOSTS + ROOT (chroot)
 *   ACTOR OP ARGS...     one step
 *   @end                 close every actor's session
 * Values are printed raw; the Python runner normalizes them.
 *
 * Built by interop/clients.py: gcc -DTHREADED zkdriver.c -lzookeeper_mt (Debian's
 * libzookeeper-mt-dev).  The C client has no API for whoAmI, getEphemerals,
 * getAllChildrenNumber, multiRead or persistent watches, and sends no 4lw.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zookeeper/zookeeper.h>

#define MAX_TOKS 256
#define MAX_ACTORS 16
#define MAX_EVENTS 1024
#define DATA_MAX (1024 * 1024)

static char hosts[4096];
static char root[4096];

/* ------------------------------------------------------------------ JSON out */
static char out[4 * DATA_MAX];
static size_t outlen;

static void put(const char *s) {
    size_t n = strlen(s);
    if (outlen + n < sizeof(out)) {
        memcpy(out + outlen, s, n);
        outlen += n;
        out[outlen] = 0;
    }
}

static void putf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void putf(const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    put(buf);
}

static void putq(const char *s, int len) {
    if (s == NULL) {
        put("null");
        return;
    }
    if (len < 0) len = (int)strlen(s);
    put("\"");
    for (int i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char b[8];
        if (c == '"') put("\\\"");
        else if (c == '\\') put("\\\\");
        else if (c == '\n') put("\\n");
        else if (c == '\t') put("\\t");
        else if (c < 0x20) { snprintf(b, sizeof b, "\\u%04x", c); put(b); }
        else { b[0] = (char)c; b[1] = 0; put(b); }
    }
    put("\"");
}

/* Valid UTF-8 -> a JSON string, else {"hex": ...}. */
static int valid_utf8(const unsigned char *s, int n) {
    int i = 0;
    while (i < n) {
        unsigned char c = s[i];
        int k;
        if (c < 0x80) k = 0;
        else if ((c >> 5) == 6) k = 1;
        else if ((c >> 4) == 14) k = 2;
        else if ((c >> 3) == 30) k = 3;
        else return 0;
        if (i + k >= n && k > 0) return 0;
        for (int j = 1; j <= k; j++)
            if ((s[i + j] & 0xC0) != 0x80) return 0;
        i += k + 1;
    }
    return 1;
}

static void putdata(const char *d, int len) {
    if (len < 0 || d == NULL) {
        put("null");
        return;
    }
    if (valid_utf8((const unsigned char *)d, len)) {
        putq(d, len);
        return;
    }
    put("{\"hex\":\"");
    for (int i = 0; i < len; i++) putf("%02x", (unsigned char)d[i]);
    put("\"}");
}

static void putstat(const struct Stat *s) {
    putf("{\"czxid\":%lld,\"mzxid\":%lld,\"ctime\":%lld,\"mtime\":%lld,\"version\":%d,"
         "\"cversion\":%d,\"aversion\":%d,\"ephemeralOwner\":%lld,\"dataLength\":%d,"
         "\"numChildren\":%d,\"pzxid\":%lld}",
         (long long)s->czxid, (long long)s->mzxid, (long long)s->ctime, (long long)s->mtime,
         s->version, s->cversion, s->aversion, (long long)s->ephemeralOwner, s->dataLength,
         s->numChildren, (long long)s->pzxid);
}

static const char *err_name(int rc) {
    switch (rc) {
    case 0: return "OK";
    case -1: return "SYSTEMERROR";
    case -2: return "RUNTIMEINCONSISTENCY";
    case -3: return "DATAINCONSISTENCY";
    case -4: return "CONNECTIONLOSS";
    case -5: return "MARSHALLINGERROR";
    case -6: return "UNIMPLEMENTED";
    case -7: return "OPERATIONTIMEOUT";
    case -8: return "BADARGUMENTS";
    case -9: return "INVALIDSTATE";
    case -13: return "NEWCONFIGNOQUORUM";
    case -14: return "RECONFIGINPROGRESS";
    case -100: return "APIERROR";
    case -101: return "NONODE";
    case -102: return "NOAUTH";
    case -103: return "BADVERSION";
    case -108: return "NOCHILDRENFOREPHEMERALS";
    case -110: return "NODEEXISTS";
    case -111: return "NOTEMPTY";
    case -112: return "SESSIONEXPIRED";
    case -113: return "INVALIDCALLBACK";
    case -114: return "INVALIDACL";
    case -115: return "AUTHFAILED";
    case -116: return "CLOSING";
    case -117: return "NOTHING";
    case -118: return "SESSIONMOVED";
    case -119: return "NOTREADONLY";
    case -120: return "EPHEMERALONLOCALSESSION";
    case -121: return "NOWATCHER";
    case -123: return "RECONFIGDISABLED";
    case -124: return "SESSIONCLOSEDREQUIRESASLAUTH";
    case -127: return "THROTTLEDOP";
    default: return NULL;
    }
}

static void puterr(int rc) {
    const char *n = err_name(rc);
    if (n) putf("{\"err\":\"%s\"}", n);
    else putf("{\"err\":\"%d\"}", rc);
}

static void puterrname(int rc) {
    const char *n = err_name(rc);
    if (n) putf("\"%s\"", n);
    else putf("\"%d\"", rc);
}

static void putstrings(const struct String_vector *v) {
    put("[");
    for (int i = 0; i < v->count; i++) {
        if (i) put(",");
        putq(v->data[i], -1);
    }
    put("]");
}

/* ------------------------------------------------------------------ actors */
struct event { int type; int state; char *path; };

struct actor {
    char name[8];
    zhandle_t *zh;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int connected;
    int auth_failed;
    int expired;
    struct event events[MAX_EVENTS];
    int nevents, seen;
};

static struct actor *actors[MAX_ACTORS];
static int nactors;
static char sessions_json[8192];    /* "c1":123,... for @end */
static char new_sessions[1024];

static const char *type_name(int t) {
    if (t == ZOO_CREATED_EVENT) return "NodeCreated";
    if (t == ZOO_DELETED_EVENT) return "NodeDeleted";
    if (t == ZOO_CHANGED_EVENT) return "NodeDataChanged";
    if (t == ZOO_CHILD_EVENT) return "NodeChildrenChanged";
    if (t == ZOO_NOTWATCHING_EVENT) return "DataWatchRemoved";
    return "None";
}

static const char *state_name(int s) {
    if (s == ZOO_CONNECTED_STATE) return "SyncConnected";
    if (s == ZOO_EXPIRED_SESSION_STATE) return "Expired";
    if (s == ZOO_AUTH_FAILED_STATE) return "AuthFailed";
    if (s == ZOO_READONLY_STATE) return "ConnectedReadOnly";
    return "Disconnected";
}

static void watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx) {
    struct actor *a = ctx;
    (void)zh;
    pthread_mutex_lock(&a->lock);
    if (type == ZOO_SESSION_EVENT) {
        if (state == ZOO_CONNECTED_STATE) a->connected = 1;
        if (state == ZOO_AUTH_FAILED_STATE) a->auth_failed = 1;
        if (state == ZOO_EXPIRED_SESSION_STATE) a->expired = 1;
    } else if (a->nevents < MAX_EVENTS) {
        struct event *e = &a->events[a->nevents++];
        e->type = type;
        e->state = state;
        e->path = strdup(path ? path : "");
    }
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->lock);
}

static int wait_flag(struct actor *a, volatile int *flag, double secs) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long ns = ts.tv_nsec + (long long)(secs * 1e9);
    ts.tv_sec += ns / 1000000000LL;
    ts.tv_nsec = ns % 1000000000LL;
    pthread_mutex_lock(&a->lock);
    while (!*flag) {
        if (pthread_cond_timedwait(&a->cond, &a->lock, &ts) == ETIMEDOUT) break;
    }
    int r = *flag;
    pthread_mutex_unlock(&a->lock);
    return r;
}

/* "SESSIONID/PASSWORDHEX" of a handle: the runner closes what is left at the end */
static void session_of(zhandle_t *zh, char *buf, size_t n) {
    const clientid_t *id = zoo_client_id(zh);
    int k = snprintf(buf, n, "%lld/", (long long)id->client_id);
    for (int i = 0; i < 16 && (size_t)k + 2 < n; i++) k += snprintf(buf + k, n - (size_t)k, "%02x", (unsigned char)id->passwd[i]);
}

static struct actor *connect_actor(const char *name, int timeout, int chroot) {
    struct actor *a = calloc(1, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->cond, NULL);
    char conn[8192];
    snprintf(conn, sizeof conn, "%s%s", hosts, chroot ? root : "");
    a->zh = zookeeper_init(conn, watcher, timeout, 0, a, 0);
    if (a->zh == NULL || !wait_flag(a, &a->connected, 20.0)) {
        fprintf(stderr, "%s did not connect\n", name);
        return NULL;
    }
    char frag[160], sess[96];
    session_of(a->zh, sess, sizeof sess);
    snprintf(frag, sizeof frag, "%s\"%s\":\"%s\"", sessions_json[0] ? "," : "", name, sess);
    strncat(sessions_json, frag, sizeof sessions_json - strlen(sessions_json) - 1);
    return a;
}

static struct actor *find_actor(const char *name) {
    for (int i = 0; i < nactors; i++)
        if (actors[i] && strcmp(actors[i]->name, name) == 0) return actors[i];
    return NULL;
}

static void drop_actor(struct actor *a) {
    for (int i = 0; i < nactors; i++)
        if (actors[i] == a) actors[i] = NULL;
    if (a->zh) zookeeper_close(a->zh);
    for (int i = 0; i < a->nevents; i++) free(a->events[i].path);
    free(a);
}

static struct actor *actor(const char *name) {
    struct actor *a = find_actor(name);
    if (a) return a;
    a = connect_actor(name, 10000, 1);
    if (!a) return NULL;
    actors[nactors++] = a;
    char frag[160], sess[96];
    session_of(a->zh, sess, sizeof sess);
    snprintf(frag, sizeof frag, "%s\"%s\":\"%s\"", new_sessions[0] ? "," : "", name, sess);
    strncat(new_sessions, frag, sizeof new_sessions - strlen(new_sessions) - 1);
    return a;
}

struct barrier { struct actor *a; int done; };

static void barrier_cb(int rc, const struct Stat *st, const void *data) {
    struct barrier *b = (struct barrier *)data;
    (void)rc;
    (void)st;
    pthread_mutex_lock(&b->a->lock);
    b->done = 1;
    pthread_cond_broadcast(&b->a->cond);
    pthread_mutex_unlock(&b->a->lock);
}

struct sync_result { struct actor *a; int done; int rc; char path[4096]; };

static void sync_cb(int rc, const char *value, const void *data) {
    struct sync_result *r = (struct sync_result *)data;
    pthread_mutex_lock(&r->a->lock);
    r->rc = rc;
    snprintf(r->path, sizeof r->path, "%s", value ? value : "");
    r->done = 1;
    pthread_cond_broadcast(&r->a->cond);
    pthread_mutex_unlock(&r->a->lock);
}

static void auth_cb(int rc, const void *data) {
    struct sync_result *r = (struct sync_result *)data;
    pthread_mutex_lock(&r->a->lock);
    r->rc = rc;
    r->done = 1;
    pthread_cond_broadcast(&r->a->cond);
    pthread_mutex_unlock(&r->a->lock);
}

/* Completions run on the same thread as watchers, after the events that came
 * before their reply. */
static void barrier(struct actor *a) {
    struct barrier b = {a, 0};
    if (zoo_aexists(a->zh, "/", 0, barrier_cb, &b) == ZOK) wait_flag(a, &b.done, 20.0);
}

static void put_event(struct event *e) {
    putf("{\"type\":\"%s\",\"state\":\"%s\",\"path\":", type_name(e->type), state_name(e->state));
    putq(e->path, -1);
    put("}");
}

/* ------------------------------------------------------------------ script in */
static char *toks[MAX_TOKS];
static int quoted[MAX_TOKS];
static int ntoks;
static char tokbuf[4 * DATA_MAX];

static void tokenize(const char *line) {
    ntoks = 0;
    char *w = tokbuf;
    const char *p = line;
    while (*p && ntoks < MAX_TOKS) {
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') { p++; continue; }
        if (*p == '#') break;
        toks[ntoks] = w;
        quoted[ntoks] = 0;
        if (*p == '"') {
            quoted[ntoks] = 1;
            p++;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1]) p++;
                *w++ = *p++;
            }
            if (*p == '"') p++;
        } else {
            while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') *w++ = *p++;
        }
        *w++ = 0;
        ntoks++;
    }
}

static int perms_of(const char *s) {
    int p = 0;
    for (; *s; s++)
        p |= *s == 'r' ? 1 : *s == 'w' ? 2 : *s == 'c' ? 4 : *s == 'd' ? 8 : *s == 'a' ? 16 : 0;
    return p;
}

static void parse_acl(const char *spec, struct ACL_vector *v) {
    if (strcmp(spec, "open") == 0) spec = "world:anyone:cdrwa";
    else if (strcmp(spec, "read") == 0) spec = "world:anyone:r";
    else if (strcmp(spec, "creator") == 0) spec = "auth::cdrwa";
    v->count = 0;
    v->data = calloc(32, sizeof(struct ACL));
    if (strcmp(spec, "empty") == 0) return;
    char *copy = strdup(spec), *save = NULL;
    for (char *e = strtok_r(copy, ",", &save); e && v->count < 32; e = strtok_r(NULL, ",", &save)) {
        char *a = strchr(e, ':'), *b = strrchr(e, ':');
        if (!a || !b || a == b) continue;
        struct ACL *x = &v->data[v->count++];
        x->id.scheme = strndup(e, (size_t)(a - e));
        x->id.id = strndup(a + 1, (size_t)(b - a - 1));
        x->perms = perms_of(b + 1);
    }
    free(copy);
}

static void free_acl(struct ACL_vector *v) {
    for (int i = 0; i < v->count; i++) {
        free(v->data[i].id.scheme);
        free(v->data[i].id.id);
    }
    free(v->data);
}

struct create_args {
    const char *path;
    const char *data;
    int len;
    int mode;
    long long ttl;
    struct ACL_vector acl;
};

static int parse_create(char **a, int *q, int n, struct create_args *c) {
    int eph = 0, seq = 0, cont = 0;
    c->path = a[0];
    c->data = "";
    c->len = 0;
    c->ttl = -1;
    int i = 1;
    int have_acl = 0;
    if (n > 1 && (q[1] || strcmp(a[1], "null") == 0)) {
        if (!q[1]) { c->data = NULL; c->len = -1; }
        else { c->data = a[1]; c->len = (int)strlen(a[1]); }
        i = 2;
    }
    for (; i < n; i++) {
        if (strcmp(a[i], "ephemeral") == 0) eph = 1;
        else if (strcmp(a[i], "sequential") == 0) seq = 1;
        else if (strcmp(a[i], "container") == 0) cont = 1;
        else if (strncmp(a[i], "ttl=", 4) == 0) c->ttl = atoll(a[i] + 4);
        else if (strncmp(a[i], "acl=", 4) == 0) { parse_acl(a[i] + 4, &c->acl); have_acl = 1; }
        else if (strcmp(a[i], "persistent") != 0) return -1;
    }
    if (!have_acl) parse_acl("open", &c->acl);
    if (cont) c->mode = ZOO_CONTAINER;
    else if (c->ttl >= 0) c->mode = seq ? ZOO_PERSISTENT_SEQUENTIAL_WITH_TTL : ZOO_PERSISTENT_WITH_TTL;
    else c->mode = (eph ? ZOO_EPHEMERAL : 0) | (seq ? ZOO_SEQUENCE : 0);
    return 0;
}

static int argint(char **a, int n, int i, int dflt) { return n > i ? atoi(a[i]) : dflt; }

static int has_watch(char **a, int n) {
    for (int i = 1; i < n; i++)
        if (strcmp(a[i], "watch") == 0) return 1;
    return 0;
}

/* ------------------------------------------------------------------ steps */
static char buf[DATA_MAX];

static void do_multi(struct actor *act, char **a, int *q, int n) {
    zoo_op_t ops[64];
    zoo_op_result_t results[64];
    char paths[64][1024];
    struct Stat stats[64];
    struct create_args cargs[64];
    const char *kinds[64];
    int nops = 0;
    int start = 0;
    memset(cargs, 0, sizeof cargs);
    for (int i = 0; i <= n && nops < 64; i++) {
        if (i < n && !(strcmp(a[i], ";") == 0 && !q[i])) continue;
        int len = i - start;
        if (len > 0) {
            char **s = a + start;
            int *sq = q + start;
            kinds[nops] = s[0];
            if (strcmp(s[0], "create") == 0) {
                parse_create(s + 1, sq + 1, len - 1, &cargs[nops]);
                zoo_create_op_init(&ops[nops], cargs[nops].path, cargs[nops].data, cargs[nops].len,
                                   &cargs[nops].acl, cargs[nops].mode, paths[nops], sizeof paths[nops]);
            } else if (strcmp(s[0], "delete") == 0) {
                zoo_delete_op_init(&ops[nops], s[1], argint(s, len, 2, -1));
            } else if (strcmp(s[0], "set") == 0) {
                zoo_set_op_init(&ops[nops], s[1], s[2], (int)strlen(s[2]), argint(s, len, 3, -1), &stats[nops]);
            } else if (strcmp(s[0], "check") == 0) {
                zoo_check_op_init(&ops[nops], s[1], atoi(s[2]));
            }
            nops++;
        }
        start = i + 1;
    }
    memset(results, 0, sizeof results);
    int rc = zoo_multi(act->zh, nops, ops, results);
    if (rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT || rc == ZSESSIONEXPIRED
        || rc == ZINVALIDSTATE || rc == ZCLOSING || rc == ZBADARGUMENTS) {
        /* A client-side or connection failure, not a multi result. */
        puterr(rc);
        goto done;
    }
    put("{\"results\":[");
    for (int i = 0; i < nops; i++) {
        if (i) put(",");
        if (rc != ZOK) {
            put("{\"type\":\"error\",\"err\":");
            puterrname(results[i].err);
            put("}");
        } else if (strcmp(kinds[i], "create") == 0) {
            put("{\"type\":\"create\",\"path\":");
            putq(paths[i], -1);
            put("}");
        } else if (strcmp(kinds[i], "set") == 0) {
            put("{\"type\":\"set\",\"stat\":");
            putstat(&stats[i]);
            put("}");
        } else {
            putf("{\"type\":\"%s\"}", kinds[i]);
        }
    }
    put("]}");
done:
    for (int i = 0; i < nops; i++)
        if (cargs[i].acl.data) free_acl(&cargs[i].acl);
}

static void step(void) {
    const char *name = toks[0], *op = toks[1];
    char **a = toks + 2;
    int *q = quoted + 2;
    int n = ntoks - 2;
    int rc;
    struct Stat st;
    if (strcmp(op, "connect") == 0) {
        int timeout = 10000, chroot = 1;
        for (int i = 0; i < n; i++) {
            if (strncmp(a[i], "timeout=", 8) == 0) timeout = atoi(a[i] + 8);
            if (strcmp(a[i], "nochroot") == 0) chroot = 0;
        }
        struct actor *old = find_actor(name);
        if (old) drop_actor(old);
        struct actor *x = connect_actor(name, timeout, chroot);
        if (!x) { put("{\"driver_error\":\"connect failed\"}"); return; }
        actors[nactors++] = x;
        putf("{\"session\":%lld,\"timeout\":%d}", (long long)zoo_client_id(x->zh)->client_id,
             zoo_recv_timeout(x->zh));
        return;
    }
    struct actor *act = actor(name);
    if (!act) { put("{\"driver_error\":\"connect failed\"}"); return; }
    zhandle_t *zh = act->zh;
    int watch = has_watch(a, n);
    memset(&st, 0, sizeof st);
    if (strcmp(op, "close") == 0) {
        drop_actor(act);
        put("{\"ok\":true}");
    } else if (strcmp(op, "create") == 0 || strcmp(op, "create2") == 0) {
        struct create_args c;
        memset(&c, 0, sizeof c);
        if (parse_create(a, q, n, &c) < 0) { put("{\"driver_error\":\"bad create\"}"); return; }
        char path[4096];
        if (c.ttl >= 0)
            rc = zoo_create2_ttl(zh, c.path, c.data, c.len, &c.acl, c.mode, c.ttl, path, sizeof path, &st);
        else if (strcmp(op, "create2") == 0)
            rc = zoo_create2(zh, c.path, c.data, c.len, &c.acl, c.mode, path, sizeof path, &st);
        else
            rc = zoo_create(zh, c.path, c.data, c.len, &c.acl, c.mode, path, sizeof path);
        free_acl(&c.acl);
        if (rc != ZOK) { puterr(rc); return; }
        put("{\"path\":");
        putq(path, -1);
        if (strcmp(op, "create2") == 0) { put(",\"stat\":"); putstat(&st); }
        put("}");
    } else if (strcmp(op, "delete") == 0) {
        rc = zoo_delete(zh, a[0], argint(a, n, 1, -1));
        if (rc != ZOK) puterr(rc);
        else put("{\"ok\":true}");
    } else if (strcmp(op, "exists") == 0) {
        rc = watch ? zoo_wexists(zh, a[0], watcher, act, &st) : zoo_exists(zh, a[0], 0, &st);
        if (rc == ZNONODE) put("{\"stat\":null}");
        else if (rc != ZOK) puterr(rc);
        else { put("{\"stat\":"); putstat(&st); put("}"); }
    } else if (strcmp(op, "get") == 0) {
        int len = sizeof buf;
        rc = watch ? zoo_wget(zh, a[0], watcher, act, buf, &len, &st) : zoo_get(zh, a[0], 0, buf, &len, &st);
        if (rc != ZOK) { puterr(rc); return; }
        put("{\"data\":");
        putdata(len < 0 ? NULL : buf, len);
        put(",\"stat\":");
        putstat(&st);
        put("}");
    } else if (strcmp(op, "set") == 0) {
        const char *d = (!q[1] && strcmp(a[1], "null") == 0) ? NULL : a[1];
        rc = zoo_set2(zh, a[0], d, d ? (int)strlen(d) : -1, argint(a, n, 2, -1), &st);
        if (rc != ZOK) { puterr(rc); return; }
        put("{\"stat\":");
        putstat(&st);
        put("}");
    } else if (strcmp(op, "children") == 0 || strcmp(op, "children2") == 0) {
        struct String_vector v;
        memset(&v, 0, sizeof v);
        if (strcmp(op, "children") == 0)
            rc = watch ? zoo_wget_children(zh, a[0], watcher, act, &v) : zoo_get_children(zh, a[0], 0, &v);
        else
            rc = watch ? zoo_wget_children2(zh, a[0], watcher, act, &v, &st)
                       : zoo_get_children2(zh, a[0], 0, &v, &st);
        if (rc != ZOK) { puterr(rc); return; }
        put("{\"children\":");
        putstrings(&v);
        if (strcmp(op, "children2") == 0) { put(",\"stat\":"); putstat(&st); }
        put("}");
        deallocate_String_vector(&v);
    } else if (strcmp(op, "getacl") == 0) {
        struct ACL_vector v;
        memset(&v, 0, sizeof v);
        rc = zoo_get_acl(zh, a[0], &v, &st);
        if (rc != ZOK) { puterr(rc); return; }
        put("{\"acl\":[");
        for (int i = 0; i < v.count; i++) {
            char p[16];
            int k = 0, x = v.data[i].perms;
            if (x & 4) p[k++] = 'c';
            if (x & 8) p[k++] = 'd';
            if (x & 1) p[k++] = 'r';
            if (x & 2) p[k++] = 'w';
            if (x & 16) p[k++] = 'a';
            if (!k) p[k++] = '-';
            p[k] = 0;
            char e[2048];
            snprintf(e, sizeof e, "%s:%s=%s", v.data[i].id.scheme, v.data[i].id.id, p);
            if (i) put(",");
            putq(e, -1);
        }
        put("],\"stat\":");
        putstat(&st);
        put("}");
        deallocate_ACL_vector(&v);
    } else if (strcmp(op, "setacl") == 0) {
        struct ACL_vector v;
        parse_acl(a[1], &v);
        rc = zoo_set_acl(zh, a[0], argint(a, n, 2, -1), &v);
        free_acl(&v);
        if (rc != ZOK) { puterr(rc); return; }
        /* zoo_set_acl returns no Stat: read it back for the comparison. */
        rc = zoo_exists(zh, a[0], 0, &st);
        put("{\"stat\":");
        if (rc == ZOK) putstat(&st);
        else put("null");
        put("}");
    } else if (strcmp(op, "sync") == 0) {
        struct sync_result r;
        memset(&r, 0, sizeof r);
        r.a = act;
        rc = zoo_async(zh, a[0], sync_cb, &r);
        if (rc == ZOK) {
            wait_flag(act, &r.done, 20.0);
            rc = r.rc;
        }
        if (rc != ZOK) puterr(rc);
        else { put("{\"path\":"); putq(r.path, -1); put("}"); }
    } else if (strcmp(op, "multi") == 0) {
        do_multi(act, a, q, n);
    } else if (strcmp(op, "auth") == 0) {
        /* The completion carries the server's answer to this auth packet. */
        struct sync_result r;
        memset(&r, 0, sizeof r);
        r.a = act;
        rc = zoo_add_auth(zh, a[0], a[1], (int)strlen(a[1]), auth_cb, &r);
        if (rc == ZOK) {
            wait_flag(act, &r.done, 20.0);
            rc = r.rc;
        }
        if (rc == ZAUTHFAILED || act->auth_failed) put("{\"err\":\"AUTHFAILED\"}");
        else if (rc != ZOK) puterr(rc);
        else put("{\"ok\":true}");
    } else if (strcmp(op, "events") == 0) {
        barrier(act);
        pthread_mutex_lock(&act->lock);
        put("{\"events\":[");
        for (int i = act->seen; i < act->nevents; i++) {
            if (i > act->seen) put(",");
            put_event(&act->events[i]);
        }
        act->seen = act->nevents;
        pthread_mutex_unlock(&act->lock);
        put("]}");
    } else if (strcmp(op, "expect-event") == 0) {
        double secs = n > 0 ? atof(a[0]) : 10.0;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long long ns = ts.tv_nsec + (long long)(secs * 1e9);
        ts.tv_sec += ns / 1000000000LL;
        ts.tv_nsec = ns % 1000000000LL;
        pthread_mutex_lock(&act->lock);
        while (act->nevents <= act->seen)
            if (pthread_cond_timedwait(&act->cond, &act->lock, &ts) == ETIMEDOUT) break;
        put("{\"event\":");
        if (act->nevents > act->seen) put_event(&act->events[act->seen++]);
        else put("null");
        put("}");
        pthread_mutex_unlock(&act->lock);
    } else {
        putf("{\"driver_error\":\"c driver cannot %s\"}", op);
    }
}

int main(void) {
    static char line[4 * DATA_MAX];
    zoo_set_debug_level(0);
    setvbuf(stdout, NULL, _IOLBF, 0);
    while (fgets(line, sizeof line, stdin)) {
        size_t l = strlen(line);
        while (l && (line[l - 1] == '\n' || line[l - 1] == '\r')) line[--l] = 0;
        if (!l) continue;
        outlen = 0;
        out[0] = 0;
        if (strncmp(line, "@begin ", 7) == 0) {
            char *sp = strchr(line + 7, ' ');
            if (sp) { *sp = 0; snprintf(root, sizeof root, "%.4000s", sp + 1); }
            else root[0] = 0;
            snprintf(hosts, sizeof hosts, "%.4000s", line + 7);
            sessions_json[0] = 0;
            put("{\"ok\":true}");
        } else if (strcmp(line, "@end") == 0) {
            for (int i = 0; i < nactors; i++)
                if (actors[i]) drop_actor(actors[i]);
            nactors = 0;
            put("{\"ok\":true,\"_sessions\":{");
            put(sessions_json);
            put("}}");
        } else {
            tokenize(line);
            new_sessions[0] = 0;
            if (ntoks < 2) put("{\"driver_error\":\"bad line\"}");
            else step();
            if (new_sessions[0] && outlen > 0 && out[outlen - 1] == '}') {
                outlen--;
                out[outlen] = 0;
                put(outlen > 1 ? ",\"_sessions\":{" : "\"_sessions\":{");
                put(new_sessions);
                put("}}");
            }
        }
        fputs(out, stdout);
        fputc('\n', stdout);
        fflush(stdout);
    }
    return 0;
}
