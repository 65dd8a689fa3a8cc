/* The robot side of the iqmpc protocol; see iqmpc_link.h for the contract. */
#define _GNU_SOURCE /* ppoll: waits with nanosecond deadlines, unlike zmq_poll's milliseconds */
#include "iqmpc_link.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

#include "iqmpc.pb-c.h"

/* C99 compile-time check that our bounds are the protocol's. */
#define IQ_STATIC_ASSERT(cond, name) typedef char iq_static_assert_##name[(cond) ? 1 : -1]
IQ_STATIC_ASSERT(IQMPC_LINK_PROTOCOL_VERSION == IQMPC__V1__BOUNDS__PROTOCOL_VERSION, version);
IQ_STATIC_ASSERT(IQMPC_LINK_MAX_OBS_DIM == IQMPC__V1__BOUNDS__MAX_OBS_DIM, obs_dim);
IQ_STATIC_ASSERT(IQMPC_LINK_MAX_ACT_DIM == IQMPC__V1__BOUNDS__MAX_ACT_DIM, act_dim);
IQ_STATIC_ASSERT(IQMPC_LINK_MAX_FRAME_BYTES == IQMPC__V1__BOUNDS__MAX_FRAME_BYTES, frame);
IQ_STATIC_ASSERT(IQMPC_LINK_MAX_CONTROL_BYTES == IQMPC__V1__BOUNDS__MAX_CONTROL_BYTES, control);
IQ_STATIC_ASSERT(IQMPC_LINK_MAX_NAME_BYTES == IQMPC__V1__BOUNDS__MAX_NAME_BYTES, name);
/* A full observation (256 floats, packed) plus header fields fits one frame. */
IQ_STATIC_ASSERT(IQMPC_LINK_MAX_OBS_DIM * 4u + 64u <= IQMPC_LINK_MAX_FRAME_BYTES, obs_fits);
IQ_STATIC_ASSERT(IQMPC_LINK_TX_SLOTS > IQMPC_LINK_SNDHWM + 2, tx_ring);

enum { ST_NO_SESSION = 0, ST_HANDSHAKING, ST_CONNECTED, ST_REFUSED };

/* What one received message meant for the step in progress. */
typedef enum {
    EV_NONE = 0,        /* consumed (discarded or bookkeeping); keep waiting */
    EV_MATCH,           /* the pending frame's action; *out is filled */
    EV_ACCEPTED,        /* handshake accepted */
    EV_REFUSED,         /* handshake refused */
    EV_END_STEP         /* the pending frame will get no action; *fault says why */
} event;

uint64_t iqmpc_link_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* now + timeout without wrapping: a huge timeout means "very long", not "already over". */
static uint64_t deadline_after(uint64_t timeout_ns) {
    uint64_t now = iqmpc_link_now_ns();
    return timeout_ns > UINT64_MAX - now ? UINT64_MAX : now + timeout_ns;
}

static void set_error(iqmpc_link *l, const char *fmt, const char *detail) {
    snprintf(l->last_error, sizeof l->last_error, fmt, detail ? detail : "");
}

const char *iqmpc_link_fault_name(iqmpc_link_fault f) {
    switch (f) {
    case IQMPC_LINK_FAULT_NONE: return "none";
    case IQMPC_LINK_FAULT_TIMEOUT: return "timeout";
    case IQMPC_LINK_FAULT_NO_SESSION: return "no-session";
    case IQMPC_LINK_FAULT_SEND_FAILED: return "send-failed";
    case IQMPC_LINK_FAULT_BAD_OBSERVATION: return "bad-observation";
    case IQMPC_LINK_FAULT_WRONG_DIMENSION: return "wrong-dimension";
    case IQMPC_LINK_FAULT_NON_FINITE: return "non-finite";
    case IQMPC_LINK_FAULT_OUT_OF_LIMITS: return "out-of-limits";
    case IQMPC_LINK_FAULT_CONTROLLER_ERROR: return "controller-error";
    case IQMPC_LINK_FAULT_SHUTDOWN: return "shutdown";
    case IQMPC_LINK_FAULT_RESET: return "reset";
    default: return "unknown";
    }
}

/* ---------- configuration and set-up ---------- */

static int name_ok(const char *s) {
    return s == NULL || strlen(s) <= IQMPC_LINK_MAX_NAME_BYTES;
}

static char *str_or_empty(const char *s) {
    return (char *)(s ? s : protobuf_c_empty_string);
}

/* ---------- exposure and CURVE ---------- */

/* Host part of "tcp://host:port" into buf; 0 when the endpoint is not tcp. */
static int tcp_host(const char *ep, char *buf, size_t len) {
    const char *h, *colon;
    size_t n;
    if (ep == NULL || strncmp(ep, "tcp://", 6) != 0) return 0;
    h = ep + 6;
    colon = strrchr(h, ':');
    n = colon ? (size_t)(colon - h) : strlen(h);
    if (n >= len) n = len - 1;
    memcpy(buf, h, n);
    buf[n] = '\0';
    return 1;
}

static int host_is_loopback(const char *h) {
    return strncmp(h, "127.", 4) == 0 || strcmp(h, "localhost") == 0 || strcmp(h, "[::1]") == 0;
}

static int host_is_wildcard(const char *h) {
    return strcmp(h, "*") == 0 || strcmp(h, "0.0.0.0") == 0 || strcmp(h, "[::]") == 0;
}

static int z85_key_ok(const char *k, uint8_t out[32]) {
    return k != NULL && strlen(k) == IQMPC_LINK_Z85_KEY_CHARS && zmq_z85_decode(out, k) != NULL;
}

static int validate_security(iqmpc_link *l, const iqmpc_link_config *c) {
    const char *eps[2];
    int i, n = c->mode == IQMPC_LINK_FREE_RUNNING ? 2 : 1;
    uint32_t k;
    uint8_t scratch[32];
    eps[0] = c->obs_endpoint;
    eps[1] = c->act_endpoint;
    if (c->curve_secret_key != NULL) {
        if (!zmq_has("curve")) {
            set_error(l, "config: this libzmq was built without CURVE%s", NULL);
            return -1;
        }
        if (!z85_key_ok(c->curve_secret_key, scratch)) {
            set_error(l, "config: curve_secret_key is not a 40-character Z85 key%s", NULL);
            return -1;
        }
        if (c->curve_authorised_keys == NULL || c->n_curve_authorised_keys < 1 ||
            c->n_curve_authorised_keys > IQMPC_LINK_MAX_AUTHORISED_KEYS) {
            set_error(l, "config: CURVE needs 1..16 curve_authorised_keys%s", NULL);
            return -1;
        }
        for (k = 0; k < c->n_curve_authorised_keys; k++) {
            if (!z85_key_ok(c->curve_authorised_keys[k], l->authorised[k])) {
                char msg[96];
                snprintf(msg, sizeof msg, "config: curve_authorised_keys[%u] is not a 40-character Z85 key", (unsigned)k);
                set_error(l, "%s", msg);
                return -1;
            }
        }
        l->n_authorised = c->n_curve_authorised_keys;
    }
    for (i = 0; i < n; i++) {
        char host[256];
        if (!tcp_host(eps[i], host, sizeof host)) continue;
        if (c->curve_secret_key == NULL && !host_is_loopback(host)) {
            if (!c->allow_insecure) {
                set_error(l, "config: %s is reachable from the network without CURVE "
                             "(set curve_secret_key, or allow_insecure)", eps[i]);
                return -1;
            }
            snprintf(l->warning, sizeof l->warning,
                     "%s is reachable from the network without CURVE: anyone who reaches it drives the robot",
                     eps[i]);
        } else if (host_is_wildcard(host) && l->warning[0] == '\0') {
            snprintf(l->warning, sizeof l->warning, "%s binds every network interface", eps[i]);
        }
    }
    return 0;
}

/* The ZAP handler (ZeroMQ RFC 27): admits CURVE clients whose public key is authorised. */
static void *zap_main(void *arg) {
    iqmpc_link *l = arg;
    uint8_t frames[7][256];
    int sizes[7];
    while (!__atomic_load_n(&l->zap_stop, __ATOMIC_ACQUIRE)) {
        zmq_pollitem_t item;
        int count = 0, more = 1, ok = 0;
        uint32_t k;
        const char *status;
        item.socket = l->zap_sock;
        item.fd = 0;
        item.events = ZMQ_POLLIN;
        item.revents = 0;
        if (zmq_poll(&item, 1, 100) <= 0) continue;
        while (more) {
            int rc;
            size_t sz = sizeof more;
            uint8_t sink[256];
            rc = zmq_recv(l->zap_sock, count < 7 ? frames[count] : sink, 256, 0);
            if (rc < 0) break;
            if (count < 7) sizes[count] = rc;
            count++;
            if (zmq_getsockopt(l->zap_sock, ZMQ_RCVMORE, &more, &sz) != 0) more = 0;
        }
        if (count >= 7 && sizes[5] == 5 && memcmp(frames[5], "CURVE", 5) == 0 && sizes[6] == 32) {
            for (k = 0; k < l->n_authorised; k++)
                if (memcmp(frames[6], l->authorised[k], 32) == 0) ok = 1;
        }
        if (!ok) {
            __atomic_add_fetch(&l->zap_refusals, 1, __ATOMIC_RELAXED);
            if (l->on_refusal) {
                char key[41] = "", addr[64] = "";
                if (count >= 7 && sizes[6] == 32) zmq_z85_encode(key, frames[6], 32);
                if (count >= 4) {
                    int n = sizes[3] < 63 ? sizes[3] : 63;
                    memcpy(addr, frames[3], (size_t)(n > 0 ? n : 0));
                    addr[n > 0 ? n : 0] = '\0';
                }
                l->on_refusal(key, addr, l->on_refusal_user);
            }
        }
        status = ok ? "200" : "400";
        zmq_send(l->zap_sock, "1.0", 3, ZMQ_SNDMORE);
        zmq_send(l->zap_sock, count > 1 ? frames[1] : (const uint8_t *)"", count > 1 ? (size_t)sizes[1] : 0, ZMQ_SNDMORE);
        zmq_send(l->zap_sock, status, 3, ZMQ_SNDMORE);
        zmq_send(l->zap_sock, ok ? "OK" : "not authorised", ok ? 2 : 14, ZMQ_SNDMORE);
        zmq_send(l->zap_sock, "", 0, ZMQ_SNDMORE);
        zmq_send(l->zap_sock, "", 0, 0);
    }
    zmq_close(l->zap_sock);
    return NULL;
}

/* Binds the ZAP handler in the link's context and starts its thread (before any bind). */
static int start_zap(iqmpc_link *l) {
    int linger = 0;
    l->zap_sock = zmq_socket(l->ctx, ZMQ_REP);
    if (l->zap_sock == NULL) return -1;
    zmq_setsockopt(l->zap_sock, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(l->zap_sock, "inproc://zeromq.zap.01") != 0) {
        zmq_close(l->zap_sock);
        l->zap_sock = NULL;
        return -1;
    }
    l->zap_stop = 0;
    if (pthread_create(&l->zap_thread, NULL, zap_main, l) != 0) {
        zmq_close(l->zap_sock);
        l->zap_sock = NULL;
        return -1;
    }
    l->zap_running = 1;
    return 0;
}

static int make_curve_server(iqmpc_link *l, void *s, const char *secret) {
    int one = 1;
    return zmq_setsockopt(s, ZMQ_CURVE_SERVER, &one, sizeof one) == 0 &&
                   zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, secret, IQMPC_LINK_Z85_KEY_CHARS + 1) == 0 &&
                   zmq_setsockopt(s, ZMQ_ZAP_DOMAIN, "iqmpc", 5) == 0
               ? 0
               : (set_error(l, "init: CURVE options failed: %s", zmq_strerror(zmq_errno())), -1);
}

static int validate_config(iqmpc_link *l, const iqmpc_link_config *c) {
    uint32_t i;
    if (c->mode != IQMPC_LINK_FREE_RUNNING && c->mode != IQMPC_LINK_LOCKSTEP) {
        set_error(l, "config: mode must be free-running or lockstep%s", NULL);
        return -1;
    }
    if (c->obs_endpoint == NULL || (c->mode == IQMPC_LINK_FREE_RUNNING && c->act_endpoint == NULL)) {
        set_error(l, "config: obs_endpoint%s and act_endpoint (free-running) are required",
                  NULL);
        return -1;
    }
    if (c->robot_id == NULL || c->robot_id[0] == '\0') {
        set_error(l, "config: robot_id is required%s", NULL);
        return -1;
    }
    if (c->obs_dim < 1 || c->obs_dim > IQMPC_LINK_MAX_OBS_DIM || c->observations == NULL) {
        set_error(l, "config: obs_dim must be 1..256 with that many observation channels%s",
                  NULL);
        return -1;
    }
    if (c->act_dim < 1 || c->act_dim > IQMPC_LINK_MAX_ACT_DIM || c->actions == NULL) {
        set_error(l, "config: act_dim must be 1..64 with that many action channels%s", NULL);
        return -1;
    }
    for (i = 0; i < c->obs_dim; i++) {
        const iqmpc_link_channel *ch = &c->observations[i];
        if (ch->name == NULL || !name_ok(ch->name) || !name_ok(ch->unit)) {
            set_error(l, "config: observation channel name/unit missing or over 63 bytes%s",
                      NULL);
            return -1;
        }
        if (isnan(ch->low) || isnan(ch->high) || ch->low > ch->high) {
            set_error(l, "config: observation channel '%s' needs low <= high", ch->name);
            return -1;
        }
    }
    for (i = 0; i < c->act_dim; i++) {
        const iqmpc_link_channel *ch = &c->actions[i];
        if (ch->name == NULL || !name_ok(ch->name) || !name_ok(ch->unit)) {
            set_error(l, "config: action channel name/unit missing or over 63 bytes%s", NULL);
            return -1;
        }
        if (!isfinite(ch->low) || !isfinite(ch->high) || ch->low > ch->high) {
            set_error(l, "config: action channel '%s' needs finite limits low <= high",
                      ch->name);
            return -1;
        }
    }
    if (c->safe_action == NULL) {
        set_error(l, "config: safe_action is required%s", NULL);
        return -1;
    }
    for (i = 0; i < c->act_dim; i++) {
        float v = c->safe_action[i];
        if (!isfinite(v) || v < c->actions[i].low || v > c->actions[i].high) {
            set_error(l, "config: safe_action for '%s' is non-finite or outside its limits",
                      c->actions[i].name);
            return -1;
        }
    }
    if (c->software != NULL && strlen(c->software) > 1024) {
        set_error(l, "config: software string too long%s", NULL);
        return -1;
    }
    return validate_security(l, c);
}

/* Packs Hello once; channel structs are scratch in the (not yet used) decode arena. */
static int pack_hello(iqmpc_link *l, const iqmpc_link_config *c) {
    ProtobufCAllocator *a = &l->arena.allocator;
    Iqmpc__V1__Channel *chans;
    Iqmpc__V1__Channel **obs_ptrs, **act_ptrs;
    Iqmpc__V1__RobotSpec spec = IQMPC__V1__ROBOT_SPEC__INIT;
    Iqmpc__V1__Hello hello = IQMPC__V1__HELLO__INIT;
    Iqmpc__V1__Envelope env = IQMPC__V1__ENVELOPE__INIT;
    uint32_t i, n = c->obs_dim + c->act_dim;
    size_t size;

    iqmpc_arena_reset(&l->arena);
    chans = a->alloc(a->allocator_data, n * sizeof *chans);
    obs_ptrs = a->alloc(a->allocator_data, c->obs_dim * sizeof *obs_ptrs);
    act_ptrs = a->alloc(a->allocator_data, c->act_dim * sizeof *act_ptrs);
    if (chans == NULL || obs_ptrs == NULL || act_ptrs == NULL) {
        set_error(l, "init: spec does not fit the scratch arena%s", NULL);
        return -1;
    }
    for (i = 0; i < n; i++) {
        const iqmpc_link_channel *src =
            i < c->obs_dim ? &c->observations[i] : &c->actions[i - c->obs_dim];
        Iqmpc__V1__Channel init = IQMPC__V1__CHANNEL__INIT;
        chans[i] = init;
        chans[i].name = str_or_empty(src->name);
        chans[i].unit = str_or_empty(src->unit);
        chans[i].low = src->low;
        chans[i].high = src->high;
        if (i < c->obs_dim) obs_ptrs[i] = &chans[i];
        else act_ptrs[i - c->obs_dim] = &chans[i];
    }
    spec.robot_id = (char *)c->robot_id;
    spec.obs_dim = c->obs_dim;
    spec.act_dim = c->act_dim;
    spec.n_observations = c->obs_dim;
    spec.observations = obs_ptrs;
    spec.n_actions = c->act_dim;
    spec.actions = act_ptrs;
    spec.control_period_ns = c->control_period_ns;
    spec.episode_length = c->episode_length;
    hello.protocol_version = IQMPC_LINK_PROTOCOL_VERSION;
    hello.role = IQMPC__V1__ROLE__ROLE_ROBOT;
    hello.spec = &spec;
    hello.software = str_or_empty(c->software ? c->software : "iqmpc_link");
    hello.mode = c->mode == IQMPC_LINK_LOCKSTEP ? IQMPC__V1__LINK_MODE__LINK_MODE_LOCKSTEP
                                                : IQMPC__V1__LINK_MODE__LINK_MODE_FREE_RUNNING;
    env.body_case = IQMPC__V1__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    size = iqmpc__v1__envelope__get_packed_size(&env);
    if (size > sizeof l->hello_buf) {
        set_error(l, "init: Hello exceeds MAX_CONTROL_BYTES (spec too large)%s", NULL);
        return -1;
    }
    l->hello_len = iqmpc__v1__envelope__pack(&env, l->hello_buf);
    iqmpc_arena_reset(&l->arena);
    return 0;
}

static int set_int(void *sock, int opt, int value) {
    return zmq_setsockopt(sock, opt, &value, sizeof value);
}

static int open_socket(iqmpc_link *l, void **out, int type, const char *endpoint,
                       const char *curve_secret) {
    int64_t maxmsg = (int64_t)IQMPC_LINK_MAX_CONTROL_BYTES;
    void *s = zmq_socket(l->ctx, type);
    if (s == NULL) {
        set_error(l, "init: zmq_socket failed: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    *out = s;
    if (set_int(s, ZMQ_LINGER, 0) != 0 || set_int(s, ZMQ_SNDHWM, IQMPC_LINK_SNDHWM) != 0 ||
        set_int(s, ZMQ_RCVHWM, 16) != 0 ||
        /* Larger messages drop the connection inside libzmq instead of being buffered. */
        zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0) {
        set_error(l, "init: zmq_setsockopt failed: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    if (type == ZMQ_REQ &&
        (set_int(s, ZMQ_REQ_RELAXED, 1) != 0 || set_int(s, ZMQ_REQ_CORRELATE, 1) != 0)) {
        set_error(l, "init: REQ options failed: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    if (curve_secret != NULL && make_curve_server(l, s, curve_secret) != 0) return -1;
    if (zmq_bind(s, endpoint) != 0) {
        char msg[IQMPC_LINK_ERROR_BYTES];
        snprintf(msg, sizeof msg, "init: cannot bind %s: %s", endpoint,
                 zmq_strerror(zmq_errno()));
        set_error(l, "%s", msg);
        return -1;
    }
    return 0;
}

int iqmpc_link_init(iqmpc_link *l, const iqmpc_link_config *c) {
    uint32_t i;
    size_t fd_size = sizeof l->wait_fd;
    if (l == NULL) return IQMPC_LINK_ERR_ARG;
    memset(l, 0, offsetof(iqmpc_link, arena_mem));
    if (c == NULL) {
        set_error(l, "config: NULL%s", NULL);
        return IQMPC_LINK_ERR_ARG;
    }
    if (validate_config(l, c) != 0) return IQMPC_LINK_ERR_CONFIG;
    l->mode = c->mode;
    l->obs_dim = c->obs_dim;
    l->act_dim = c->act_dim;
    for (i = 0; i < c->act_dim; i++) {
        l->safe_action[i] = c->safe_action[i];
        l->act_low[i] = c->actions[i].low;
        l->act_high[i] = c->actions[i].high;
    }
    l->hello_interval_ns = (uint64_t)(c->hello_interval_ms ? c->hello_interval_ms : 100u) * 1000000u;
    iqmpc_arena_init(&l->arena, l->arena_mem.bytes, sizeof l->arena_mem.bytes);
    if (pack_hello(l, c) != 0) return IQMPC_LINK_ERR_CONFIG;

    l->ctx = zmq_ctx_new();
    if (l->ctx == NULL) {
        set_error(l, "init: zmq_ctx_new failed: %s", zmq_strerror(zmq_errno()));
        return IQMPC_LINK_ERR_ZMQ;
    }
    l->on_refusal = c->on_refusal;
    l->on_refusal_user = c->on_refusal_user;
    if (c->curve_secret_key != NULL && start_zap(l) != 0) {
        set_error(l, "init: cannot start the ZAP handler: %s", zmq_strerror(zmq_errno()));
        iqmpc_link_close(l);
        return IQMPC_LINK_ERR_ZMQ;
    }
    if (c->mode == IQMPC_LINK_FREE_RUNNING) {
        if (open_socket(l, &l->obs_sock, ZMQ_PUSH, c->obs_endpoint, c->curve_secret_key) != 0 ||
            open_socket(l, &l->act_sock, ZMQ_PULL, c->act_endpoint, c->curve_secret_key) != 0) {
            iqmpc_link_close(l);
            return IQMPC_LINK_ERR_ZMQ;
        }
    } else {
        if (open_socket(l, &l->obs_sock, ZMQ_REQ, c->obs_endpoint, c->curve_secret_key) != 0) {
            iqmpc_link_close(l);
            return IQMPC_LINK_ERR_ZMQ;
        }
        l->act_sock = l->obs_sock;
    }
    if (zmq_getsockopt(l->act_sock, ZMQ_FD, &l->wait_fd, &fd_size) != 0) {
        set_error(l, "init: ZMQ_FD failed: %s", zmq_strerror(zmq_errno()));
        iqmpc_link_close(l);
        return IQMPC_LINK_ERR_ZMQ;
    }
    l->state = ST_NO_SESSION;
    return IQMPC_LINK_OK;
}

void iqmpc_link_close(iqmpc_link *l) {
    if (l == NULL) return;
    if (l->obs_sock) zmq_close(l->obs_sock);
    if (l->act_sock && l->act_sock != l->obs_sock) zmq_close(l->act_sock);
    l->obs_sock = l->act_sock = NULL;
    if (l->zap_running) {
        __atomic_store_n(&l->zap_stop, 1, __ATOMIC_RELEASE);
        pthread_join(l->zap_thread, NULL);
        l->zap_running = 0;
        l->zap_sock = NULL;
    }
    if (l->ctx) zmq_ctx_term(l->ctx);
    l->ctx = NULL;
    l->state = ST_NO_SESSION;
}

/* ---------- waiting and receiving ---------- */

/*
 * Returns 1 when act_sock may have a message, 0 once `deadline` passed. ZMQ_FD is
 * edge-triggered: ZMQ_EVENTS must be read (which also drains the fd) before each sleep.
 */
static int wait_readable(iqmpc_link *l, uint64_t deadline) {
    for (;;) {
        int events = 0;
        size_t size = sizeof events;
        uint64_t now, rem;
        struct timespec ts;
        struct pollfd p;
        /* Deadline first: a peer flooding junk must not keep the caller past its timeout. */
        now = iqmpc_link_now_ns();
        if (now >= deadline) return 0;
        if (zmq_getsockopt(l->act_sock, ZMQ_EVENTS, &events, &size) == 0 &&
            (events & ZMQ_POLLIN))
            return 1;
        rem = deadline - now;
        ts.tv_sec = (time_t)(rem / 1000000000u);
        ts.tv_nsec = (long)(rem % 1000000000u);
        p.fd = l->wait_fd;
        p.events = POLLIN;
        p.revents = 0;
        (void)ppoll(&p, 1, &ts, NULL); /* EINTR or readiness: re-check, deadline bounds it */
    }
}

/* Hot-path frames must stay below MAX_FRAME_BYTES; only control messages may be larger. */
static int is_control_body(Iqmpc__V1__Envelope__BodyCase c) {
    return c == IQMPC__V1__ENVELOPE__BODY_HELLO || c == IQMPC__V1__ENVELOPE__BODY_HELLO_ACK ||
           c == IQMPC__V1__ENVELOPE__BODY_RESET || c == IQMPC__V1__ENVELOPE__BODY_SHUTDOWN ||
           c == IQMPC__V1__ENVELOPE__BODY_TELEMETRY;
}

/* Receives one message without blocking and decodes it into the arena (NULL: none/bad). */
static Iqmpc__V1__Envelope *recv_envelope(iqmpc_link *l, int *got) {
    Iqmpc__V1__Envelope *env;
    uint32_t exhausted_before;
    int n = zmq_recv(l->act_sock, l->rx, sizeof l->rx, ZMQ_DONTWAIT);
    *got = n >= 0;
    if (n < 0) return NULL;
    if ((size_t)n > sizeof l->rx) { /* zmq_recv reports the full length when truncating */
        l->counters.oversized++;
        return NULL;
    }
    iqmpc_arena_reset(&l->arena);
    exhausted_before = l->arena.exhausted;
    env = iqmpc__v1__envelope__unpack(&l->arena.allocator, (size_t)n, l->rx);
    if (l->arena.high_water > l->counters.arena_high_water)
        l->counters.arena_high_water = l->arena.high_water;
    if (env == NULL) {
        if (l->arena.exhausted != exhausted_before) l->counters.oversized++;
        else l->counters.malformed++;
        return NULL;
    }
    if ((size_t)n > IQMPC_LINK_MAX_FRAME_BYTES && !is_control_body(env->body_case)) {
        l->counters.oversized++;
        return NULL;
    }
    return env;
}

static void fill_fallback(iqmpc_link *l, iqmpc_link_action *out, iqmpc_link_fault f,
                          uint64_t seq) {
    memset(out, 0, sizeof *out);
    memcpy(out->values, l->safe_action, l->act_dim * sizeof(float));
    out->n_values = l->act_dim;
    out->fallback = 1;
    out->fault = f;
    out->observation_seq = seq;
    if (f == IQMPC_LINK_FAULT_NONE) return; /* API misuse, not a control step */
    l->counters.fallbacks++;
    l->counters.fault[f]++;
}

static void lose_session(iqmpc_link *l) {
    if (l->state == ST_CONNECTED) l->counters.session_losses++;
    l->state = ST_NO_SESSION;
    l->hello_ever_sent = 0; /* say Hello at the very next step, not an interval later */
}

static event on_hello_ack(iqmpc_link *l, const Iqmpc__V1__HelloAck *ack) {
    if (l->state == ST_CONNECTED) return EV_NONE; /* answer to a repeated Hello */
    if (ack->accepted && ack->protocol_version == IQMPC_LINK_PROTOCOL_VERSION) {
        l->state = ST_CONNECTED;
        l->counters.handshakes++;
        l->last_action_seq = 0;
        l->last_error[0] = '\0';
        return EV_ACCEPTED;
    }
    l->state = ST_REFUSED;
    l->counters.refusals++;
    if (ack->protocol_version != IQMPC_LINK_PROTOCOL_VERSION) {
        snprintf(l->last_error, sizeof l->last_error,
                 "controller speaks protocol %u, this link %u", (unsigned)ack->protocol_version,
                 (unsigned)IQMPC_LINK_PROTOCOL_VERSION);
    } else if (ack->error != NULL && ack->error->message != NULL && ack->error->message[0]) {
        snprintf(l->last_error, sizeof l->last_error, "controller refused the spec: %s",
                 ack->error->message);
    } else {
        snprintf(l->last_error, sizeof l->last_error, "controller refused the spec");
    }
    return EV_REFUSED;
}

static int action_values_ok(iqmpc_link *l, const Iqmpc__V1__Action *a, iqmpc_link_fault *f) {
    uint32_t i;
    if (a->n_values != l->act_dim || a->values == NULL) {
        *f = IQMPC_LINK_FAULT_WRONG_DIMENSION;
        return 0;
    }
    for (i = 0; i < l->act_dim; i++) {
        if (!isfinite(a->values[i])) {
            *f = IQMPC_LINK_FAULT_NON_FINITE;
            return 0;
        }
    }
    for (i = 0; i < l->act_dim; i++) {
        if (a->values[i] < l->act_low[i] || a->values[i] > l->act_high[i]) {
            *f = IQMPC_LINK_FAULT_OUT_OF_LIMITS;
            return 0;
        }
    }
    return 1;
}

static event on_action(iqmpc_link *l, const Iqmpc__V1__Action *a, iqmpc_link_action *out,
                       iqmpc_link_fault *fault) {
    uint64_t s = a->observation_seq, d;
    const Iqmpc__V1__PlanDiagnostics *diag = a->diagnostics;
    if (s == 0) { /* controller watchdog or shutdown action: ours is applied locally */
        l->counters.unsolicited++;
        if (diag != NULL && diag->fault == IQMPC__V1__FAULT_CODE__FAULT_SHUTDOWN) lose_session(l);
        return EV_NONE;
    }
    if (s > l->last_seq) { /* answers a frame this session never sent */
        l->counters.out_of_order++;
        return EV_NONE;
    }
    d = l->last_seq - s;
    if (d < 64 && ((l->answered_bits >> d) & 1u)) {
        l->counters.duplicate++;
        return EV_NONE;
    }
    if (s != l->pending_seq) {
        l->counters.late++;
        return EV_NONE;
    }
    if (a->seq <= l->last_action_seq) { /* an older controller action overtaken by newer ones */
        l->counters.out_of_order++;
        return EV_NONE;
    }
    l->answered_bits |= (uint64_t)1u << d;
    l->pending_seq = 0;
    l->last_action_seq = a->seq;
    if (!action_values_ok(l, a, fault)) return EV_END_STEP;
    memset(out, 0, sizeof *out);
    memcpy(out->values, a->values, l->act_dim * sizeof(float));
    out->n_values = l->act_dim;
    out->observation_seq = s;
    out->action_seq = a->seq;
    out->round_trip_ns = iqmpc_link_now_ns() - l->pending_sent_ns;
    if (diag != NULL) {
        out->controller_source = (int)diag->source;
        out->controller_iterations = diag->iterations;
        out->controller_plan_time_us = diag->plan_time_us;
        out->controller_deadline_missed = diag->deadline_missed ? 1 : 0;
        out->controller_fault = (int)diag->fault;
    }
    l->counters.actions_applied++;
    return EV_MATCH;
}

static void send_heartbeat(iqmpc_link *l);

/* Interprets one decoded message. *fault is set for EV_END_STEP. */
static event handle(iqmpc_link *l, const Iqmpc__V1__Envelope *env, iqmpc_link_action *out,
                    iqmpc_link_fault *fault, uint64_t *seed) {
    switch (env->body_case) {
    case IQMPC__V1__ENVELOPE__BODY_ACTION:
        if (env->action == NULL) break;
        return on_action(l, env->action, out, fault);
    case IQMPC__V1__ENVELOPE__BODY_HELLO_ACK:
        if (env->hello_ack == NULL) break;
        return on_hello_ack(l, env->hello_ack);
    case IQMPC__V1__ENVELOPE__BODY_HEARTBEAT:
        l->counters.heartbeats++;
        return EV_NONE;
    case IQMPC__V1__ENVELOPE__BODY_ERROR:
        /* A bare fatal spec/version Error while handshaking is a refusal, like a HelloAck's. */
        if (env->error != NULL && l->state != ST_CONNECTED && env->error->fatal &&
            (env->error->code == IQMPC__V1__ERROR_CODE__ERROR_SPEC_MISMATCH ||
             env->error->code == IQMPC__V1__ERROR_CODE__ERROR_PROTOCOL_VERSION)) {
            l->state = ST_REFUSED;
            l->counters.refusals++;
            snprintf(l->last_error, sizeof l->last_error, "controller refused the session: %s",
                     env->error->message ? env->error->message : "");
            return EV_REFUSED;
        }
        /* Errors answer the newest frame (e.g. FAULT_NO_HANDSHAKE after a controller restart). */
        if (env->error != NULL &&
            (env->error->fatal || env->error->fault == IQMPC__V1__FAULT_CODE__FAULT_NO_HANDSHAKE))
            lose_session(l);
        if (l->pending_seq == 0) {
            l->counters.unexpected++;
            return EV_NONE;
        }
        *fault = IQMPC_LINK_FAULT_CONTROLLER_ERROR;
        return EV_END_STEP;
    case IQMPC__V1__ENVELOPE__BODY_SHUTDOWN:
        lose_session(l);
        if (l->mode == IQMPC_LINK_LOCKSTEP) send_heartbeat(l); /* the protocol's last word */
        *fault = IQMPC_LINK_FAULT_SHUTDOWN;
        return EV_END_STEP;
    case IQMPC__V1__ENVELOPE__BODY_RESET:
        if (l->mode != IQMPC_LINK_LOCKSTEP || l->pending_seq == 0 || env->reset == NULL) break;
        l->answered_bits |= 1u;
        l->pending_seq = 0;
        *seed = env->reset->seed;
        *fault = IQMPC_LINK_FAULT_RESET;
        return EV_END_STEP;
    default:
        break;
    }
    l->counters.unexpected++;
    return EV_NONE;
}

/* ---------- sending ---------- */

static int send_const(iqmpc_link *l, const void *buf, size_t len) {
    int events = 0;
    size_t size = sizeof events;
    /*
     * Reading ZMQ_EVENTS processes the socket's pending commands, among them the credit
     * the peer returns for frames it consumed. A non-blocking send only does so once per
     * millisecond or so, and would otherwise see a full queue that is in fact empty.
     */
    (void)zmq_getsockopt(l->obs_sock, ZMQ_EVENTS, &events, &size);
    if (zmq_send_const(l->obs_sock, buf, len, ZMQ_DONTWAIT) < 0) {
        l->counters.send_failures++;
        return -1;
    }
    return 0;
}

static void send_hello(iqmpc_link *l, uint64_t now) {
    l->last_hello_ns = now;
    l->hello_ever_sent = 1;
    if (l->state != ST_REFUSED) l->state = ST_HANDSHAKING;
    if (send_const(l, l->hello_buf, l->hello_len) == 0) l->counters.hellos_sent++;
}

static int hello_due(const iqmpc_link *l, uint64_t now) {
    return !l->hello_ever_sent || now - l->last_hello_ns >= l->hello_interval_ns;
}

static void send_heartbeat(iqmpc_link *l) {
    Iqmpc__V1__Heartbeat hb = IQMPC__V1__HEARTBEAT__INIT;
    Iqmpc__V1__Envelope env = IQMPC__V1__ENVELOPE__INIT;
    uint8_t *slot = l->tx[l->tx_next];
    hb.timestamp_ns = iqmpc_link_now_ns();
    hb.role = IQMPC__V1__ROLE__ROLE_ROBOT;
    env.body_case = IQMPC__V1__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    l->tx_next = (l->tx_next + 1u) % IQMPC_LINK_TX_SLOTS;
    (void)send_const(l, slot, iqmpc__v1__envelope__pack(&env, slot));
}

int iqmpc_link_shutdown(iqmpc_link *l, const char *reason) {
    Iqmpc__V1__Shutdown sd = IQMPC__V1__SHUTDOWN__INIT;
    Iqmpc__V1__Envelope env = IQMPC__V1__ENVELOPE__INIT;
    char text[128];
    uint8_t *slot;
    if (l == NULL || l->ctx == NULL) return IQMPC_LINK_ERR_ARG;
    snprintf(text, sizeof text, "%s", reason ? reason : "robot stopping"); /* bounded */
    sd.reason = text;
    env.body_case = IQMPC__V1__ENVELOPE__BODY_SHUTDOWN;
    env.shutdown = &sd;
    slot = l->tx[l->tx_next];
    l->tx_next = (l->tx_next + 1u) % IQMPC_LINK_TX_SLOTS;
    l->pending_seq = 0;
    l->pending_fault = IQMPC_LINK_FAULT_NONE;
    if (l->state == ST_CONNECTED) l->state = ST_NO_SESSION; /* a planned end, not a loss */
    l->hello_ever_sent = 0;
    return send_const(l, slot, iqmpc__v1__envelope__pack(&env, slot)) == 0 ? IQMPC_LINK_OK
                                                                            : IQMPC_LINK_ERR_ZMQ;
}

int iqmpc_link_handshake(iqmpc_link *l, uint64_t timeout_ns) {
    uint64_t deadline = deadline_after(timeout_ns);
    iqmpc_link_action scratch;
    if (l == NULL || l->ctx == NULL) return IQMPC_LINK_ERR_ARG;
    if (l->state == ST_CONNECTED) return IQMPC_LINK_OK;
    l->hello_ever_sent = 0;
    for (;;) {
        uint64_t now = iqmpc_link_now_ns(), wake;
        if (now >= deadline) break;
        if (hello_due(l, now)) send_hello(l, now);
        wake = l->last_hello_ns + l->hello_interval_ns;
        if (wake > deadline) wake = deadline;
        while (wait_readable(l, wake)) {
            int got;
            iqmpc_link_fault fault = IQMPC_LINK_FAULT_NONE;
            uint64_t seed = 0;
            Iqmpc__V1__Envelope *env = recv_envelope(l, &got);
            event ev;
            if (!got) continue;
            if (env == NULL) continue;
            ev = handle(l, env, &scratch, &fault, &seed);
            if (ev == EV_ACCEPTED) return IQMPC_LINK_OK;
            if (ev == EV_REFUSED) return IQMPC_LINK_ERR_REFUSED;
        }
    }
    if (l->state == ST_REFUSED) return IQMPC_LINK_ERR_REFUSED;
    snprintf(l->last_error, sizeof l->last_error, "no HelloAck within the handshake timeout");
    return IQMPC_LINK_ERR_TIMEOUT;
}

static int all_finite(const float *v, uint32_t n) {
    uint32_t i;
    for (i = 0; i < n; i++)
        if (!isfinite(v[i])) return 0;
    return 1;
}

int iqmpc_link_publish(iqmpc_link *l, const float *obs, const iqmpc_link_frame_flags *flags) {
    Iqmpc__V1__Observation o = IQMPC__V1__OBSERVATION__INIT;
    Iqmpc__V1__Envelope env = IQMPC__V1__ENVELOPE__INIT;
    uint8_t *slot;
    uint64_t now;
    size_t len;
    if (l == NULL || l->ctx == NULL || obs == NULL) return IQMPC_LINK_ERR_ARG;
    now = iqmpc_link_now_ns();
    l->pending_seq = 0; /* a frame not yet answered is given up: its action is now late */
    l->pending_fault = IQMPC_LINK_FAULT_NONE;
    if (l->state != ST_CONNECTED) {
        if (hello_due(l, now)) send_hello(l, now);
        l->pending_fault = IQMPC_LINK_FAULT_NO_SESSION;
        return IQMPC_LINK_OK;
    }
    if (!all_finite(obs, l->obs_dim)) {
        l->pending_fault = IQMPC_LINK_FAULT_BAD_OBSERVATION;
        return IQMPC_LINK_OK;
    }
    o.seq = l->last_seq + 1u;
    o.timestamp_ns = now;
    o.n_values = l->obs_dim;
    o.values = (float *)obs; /* pack only reads it */
    if (flags != NULL) {
        o.episode_start = flags->episode_start ? 1 : 0;
        o.terminal = flags->terminal ? 1 : 0;
        o.episode = flags->episode;
    }
    env.body_case = IQMPC__V1__ENVELOPE__BODY_OBSERVATION;
    env.observation = &o;
    slot = l->tx[l->tx_next];
    len = iqmpc__v1__envelope__pack(&env, slot);
    if (send_const(l, slot, len) != 0) {
        l->pending_fault = IQMPC_LINK_FAULT_SEND_FAILED;
        return IQMPC_LINK_OK;
    }
    l->tx_next = (l->tx_next + 1u) % IQMPC_LINK_TX_SLOTS;
    l->last_seq = o.seq;
    l->answered_bits <<= 1;
    l->pending_seq = o.seq;
    l->pending_sent_ns = now;
    l->counters.observations_sent++;
    return IQMPC_LINK_OK;
}

static int receive_until(iqmpc_link *l, uint64_t deadline, iqmpc_link_action *out) {
    uint64_t seq = l->pending_seq;
    iqmpc_link_fault pre = l->pending_fault;
    if (l->pending_seq == 0 && pre == IQMPC_LINK_FAULT_NONE) {
        fill_fallback(l, out, IQMPC_LINK_FAULT_NONE, 0); /* still hand back the safe action */
        return IQMPC_LINK_ERR_ARG;
    }
    l->pending_fault = IQMPC_LINK_FAULT_NONE;
    if (pre == IQMPC_LINK_FAULT_SEND_FAILED || pre == IQMPC_LINK_FAULT_BAD_OBSERVATION) {
        fill_fallback(l, out, pre, 0);
        return IQMPC_LINK_OK;
    }
    for (;;) {
        uint64_t wake = deadline;
        if (pre == IQMPC_LINK_FAULT_NO_SESSION) { /* waiting for HelloAck: keep saying Hello */
            uint64_t now = iqmpc_link_now_ns();
            if (hello_due(l, now)) send_hello(l, now);
            if (l->last_hello_ns + l->hello_interval_ns < wake)
                wake = l->last_hello_ns + l->hello_interval_ns;
        }
        while (wait_readable(l, wake)) {
            int got;
            iqmpc_link_fault fault = IQMPC_LINK_FAULT_NONE;
            uint64_t seed = 0;
            Iqmpc__V1__Envelope *env = recv_envelope(l, &got);
            event ev;
            if (!got || env == NULL) continue;
            ev = handle(l, env, out, &fault, &seed);
            if (ev == EV_MATCH && pre == IQMPC_LINK_FAULT_NONE) return IQMPC_LINK_OK;
            if (pre == IQMPC_LINK_FAULT_NO_SESSION && (ev == EV_ACCEPTED || ev == EV_REFUSED)) {
                fill_fallback(l, out, IQMPC_LINK_FAULT_NO_SESSION, 0);
                return IQMPC_LINK_OK;
            }
            if (ev == EV_END_STEP && pre == IQMPC_LINK_FAULT_NONE) {
                l->pending_seq = 0;
                fill_fallback(l, out, fault, seq);
                out->reset_seed = seed;
                return IQMPC_LINK_OK;
            }
        }
        if (wake >= deadline) break;
    }
    l->pending_seq = 0; /* given up: its action, if it ever comes, is late */
    /* Lockstep: the next request makes REQ_RELAXED drop the connection to discard the
       late reply; the controller reconnects and expects Hello again (Proto/README.md). */
    if (l->mode == IQMPC_LINK_LOCKSTEP && pre == IQMPC_LINK_FAULT_NONE) lose_session(l);
    fill_fallback(l, out, pre == IQMPC_LINK_FAULT_NONE ? IQMPC_LINK_FAULT_TIMEOUT : pre, seq);
    return IQMPC_LINK_OK;
}

int iqmpc_link_receive(iqmpc_link *l, uint64_t timeout_ns, iqmpc_link_action *out) {
    if (l == NULL || out == NULL || l->ctx == NULL) return IQMPC_LINK_ERR_ARG;
    return receive_until(l, deadline_after(timeout_ns), out);
}

int iqmpc_link_step(iqmpc_link *l, const float *obs, const iqmpc_link_frame_flags *flags,
                    uint64_t timeout_ns, iqmpc_link_action *out) {
    uint64_t deadline;
    int rc;
    if (l == NULL || out == NULL || l->ctx == NULL) return IQMPC_LINK_ERR_ARG;
    deadline = deadline_after(timeout_ns);
    rc = iqmpc_link_publish(l, obs, flags);
    if (rc != IQMPC_LINK_OK) {
        fill_fallback(l, out, IQMPC_LINK_FAULT_BAD_OBSERVATION, 0);
        return rc;
    }
    return receive_until(l, deadline, out);
}

void iqmpc_link_counters_get(const iqmpc_link *l, iqmpc_link_counters *out) {
    if (l == NULL || out == NULL) return;
    *out = l->counters;
    out->auth_refusals = __atomic_load_n(&l->zap_refusals, __ATOMIC_RELAXED);
}

int iqmpc_link_connected(const iqmpc_link *l) { return l != NULL && l->state == ST_CONNECTED; }

const char *iqmpc_link_last_error(const iqmpc_link *l) { return l ? l->last_error : ""; }

const char *iqmpc_link_warning(const iqmpc_link *l) { return l ? l->warning : ""; }

int iqmpc_link_endpoint(const iqmpc_link *l, int which, char *buf, size_t len) {
    void *s;
    size_t size = len;
    if (l == NULL || buf == NULL || len == 0 || l->ctx == NULL) return IQMPC_LINK_ERR_ARG;
    s = which == 0 ? l->obs_sock : l->act_sock;
    if (zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, buf, &size) != 0) return IQMPC_LINK_ERR_ZMQ;
    return IQMPC_LINK_OK;
}
