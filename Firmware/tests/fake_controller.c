/* Scripted controller peer for the firmware tests; see fake_controller.h. */
#include "fake_controller.h"

#include <string.h>

#include <zmq.h>

static int connect_socket(fake_ctl *f, void **out, int type, const char *ep) {
    int linger = 0;
    /* A send that cannot be queued (the link stopped reading and the high-water mark is
     * reached, e.g. after a flood) fails after this long instead of blocking the test for
     * ever: a hung test is worse than a failed one. */
    int send_timeout_ms = 2000;
    *out = zmq_socket(f->ctx, type);
    if (*out == NULL) return -1;
    zmq_setsockopt(*out, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(*out, ZMQ_SNDTIMEO, &send_timeout_ms, sizeof send_timeout_ms);
    return zmq_connect(*out, ep);
}

int fake_open_free(fake_ctl *f, const char *obs_ep, const char *act_ep) {
    memset(f, 0, sizeof *f);
    f->ctx = zmq_ctx_new();
    if (f->ctx == NULL) return -1;
    if (connect_socket(f, &f->in, ZMQ_PULL, obs_ep) != 0) return -1;
    return connect_socket(f, &f->out, ZMQ_PUSH, act_ep);
}

static int curve_client(void *s, const char *server_public, const char *own_public, const char *own_secret) {
    return zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, server_public, 41) == 0 &&
                   zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, own_public, 41) == 0 &&
                   zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, own_secret, 41) == 0
               ? 0
               : -1;
}

int fake_open_free_curve(fake_ctl *f, const char *obs_ep, const char *act_ep, const char *server_public,
                         const char *own_public, const char *own_secret) {
    int linger = 0, send_timeout_ms = 2000;
    memset(f, 0, sizeof *f);
    f->ctx = zmq_ctx_new();
    if (f->ctx == NULL) return -1;
    f->in = zmq_socket(f->ctx, ZMQ_PULL);
    f->out = zmq_socket(f->ctx, ZMQ_PUSH);
    if (f->in == NULL || f->out == NULL) return -1;
    zmq_setsockopt(f->in, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(f->out, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(f->out, ZMQ_SNDTIMEO, &send_timeout_ms, sizeof send_timeout_ms);
    if (curve_client(f->in, server_public, own_public, own_secret) != 0 ||
        curve_client(f->out, server_public, own_public, own_secret) != 0)
        return -1;
    if (zmq_connect(f->in, obs_ep) != 0) return -1;
    return zmq_connect(f->out, act_ep);
}

int fake_open_lockstep(fake_ctl *f, const char *ep) {
    memset(f, 0, sizeof *f);
    f->ctx = zmq_ctx_new();
    if (f->ctx == NULL) return -1;
    if (connect_socket(f, &f->in, ZMQ_REP, ep) != 0) return -1;
    f->out = f->in;
    return 0;
}

void fake_close(fake_ctl *f) {
    if (f->in) zmq_close(f->in);
    if (f->out && f->out != f->in) zmq_close(f->out);
    if (f->ctx) zmq_ctx_term(f->ctx);
    memset(f, 0, sizeof *f);
}

Iqmpc__V1__Envelope *fake_recv(fake_ctl *f, int timeout_ms) {
    zmq_pollitem_t item;
    int n;
    item.socket = f->in;
    item.fd = 0;
    item.events = ZMQ_POLLIN;
    item.revents = 0;
    if (zmq_poll(&item, 1, timeout_ms) <= 0) return NULL;
    n = zmq_recv(f->in, f->buf, sizeof f->buf, 0);
    if (n < 0 || (size_t)n > sizeof f->buf) return NULL;
    return iqmpc__v1__envelope__unpack(NULL, (size_t)n, f->buf);
}

int fake_drain(fake_ctl *f, int timeout_ms) {
    int count = 0;
    Iqmpc__V1__Envelope *e;
    while ((e = fake_recv(f, timeout_ms)) != NULL) {
        iqmpc__v1__envelope__free_unpacked(e, NULL);
        count++;
    }
    return count;
}

int fake_send_raw(fake_ctl *f, const void *bytes, size_t len) {
    return zmq_send(f->out, bytes, len, 0) == (int)len ? 0 : -1;
}

int fake_send_env(fake_ctl *f, const Iqmpc__V1__Envelope *env) {
    size_t len = iqmpc__v1__envelope__get_packed_size(env);
    if (len > sizeof f->buf) return -1;
    iqmpc__v1__envelope__pack(env, f->buf);
    return fake_send_raw(f, f->buf, len);
}

int fake_send_ack(fake_ctl *f, int accepted, uint32_t version, const char *message) {
    Iqmpc__V1__Envelope env = IQMPC__V1__ENVELOPE__INIT;
    Iqmpc__V1__HelloAck ack = IQMPC__V1__HELLO_ACK__INIT;
    Iqmpc__V1__Error err = IQMPC__V1__ERROR__INIT;
    ack.protocol_version = version;
    ack.accepted = accepted ? 1 : 0;
    ack.role = IQMPC__V1__ROLE__ROLE_CONTROLLER;
    ack.software = (char *)"fake-controller";
    if (!accepted) {
        err.code = IQMPC__V1__ERROR_CODE__ERROR_SPEC_MISMATCH;
        err.fatal = 1;
        err.message = (char *)(message ? message : "");
        ack.error = &err;
    }
    env.body_case = IQMPC__V1__ENVELOPE__BODY_HELLO_ACK;
    env.hello_ack = &ack;
    return fake_send_env(f, &env);
}

int fake_send_action(fake_ctl *f, uint64_t seq, uint64_t obs_seq, const float *values,
                     size_t n, Iqmpc__V1__ActionSource source, Iqmpc__V1__FaultCode fault) {
    Iqmpc__V1__Envelope env = IQMPC__V1__ENVELOPE__INIT;
    Iqmpc__V1__Action a = IQMPC__V1__ACTION__INIT;
    Iqmpc__V1__PlanDiagnostics d = IQMPC__V1__PLAN_DIAGNOSTICS__INIT;
    a.seq = seq;
    a.observation_seq = obs_seq;
    a.timestamp_ns = 1;
    a.n_values = n;
    a.values = (float *)values;
    d.source = source;
    d.iterations = 6;
    d.plan_time_us = 1234;
    d.fault = fault;
    a.diagnostics = &d;
    env.body_case = IQMPC__V1__ENVELOPE__BODY_ACTION;
    env.action = &a;
    return fake_send_env(f, &env);
}

int fake_send_error(fake_ctl *f, Iqmpc__V1__ErrorCode code, Iqmpc__V1__FaultCode fault,
                    int fatal) {
    Iqmpc__V1__Envelope env = IQMPC__V1__ENVELOPE__INIT;
    Iqmpc__V1__Error err = IQMPC__V1__ERROR__INIT;
    err.code = code;
    err.fault = fault;
    err.fatal = fatal ? 1 : 0;
    err.message = (char *)"fake error: obs_dim 3 != 5";
    env.body_case = IQMPC__V1__ENVELOPE__BODY_ERROR;
    env.error = &err;
    return fake_send_env(f, &env);
}

int fake_send_reset(fake_ctl *f, uint64_t seed) {
    Iqmpc__V1__Envelope env = IQMPC__V1__ENVELOPE__INIT;
    Iqmpc__V1__Reset r = IQMPC__V1__RESET__INIT;
    r.seed = seed;
    env.body_case = IQMPC__V1__ENVELOPE__BODY_RESET;
    env.reset = &r;
    return fake_send_env(f, &env);
}

int fake_send_shutdown(fake_ctl *f, const char *reason) {
    Iqmpc__V1__Envelope env = IQMPC__V1__ENVELOPE__INIT;
    Iqmpc__V1__Shutdown s = IQMPC__V1__SHUTDOWN__INIT;
    s.reason = (char *)reason;
    env.body_case = IQMPC__V1__ENVELOPE__BODY_SHUTDOWN;
    env.shutdown = &s;
    return fake_send_env(f, &env);
}

int fake_send_heartbeat(fake_ctl *f) {
    Iqmpc__V1__Envelope env = IQMPC__V1__ENVELOPE__INIT;
    Iqmpc__V1__Heartbeat h = IQMPC__V1__HEARTBEAT__INIT;
    h.timestamp_ns = 7;
    h.role = IQMPC__V1__ROLE__ROLE_CONTROLLER;
    env.body_case = IQMPC__V1__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &h;
    return fake_send_env(f, &env);
}
