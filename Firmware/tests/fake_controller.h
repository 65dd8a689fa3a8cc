#ifndef IQ_FW_FAKE_CONTROLLER_H
#define IQ_FW_FAKE_CONTROLLER_H
/*
 * A scripted controller peer written independently of iqmpc_link.c: it connects to the
 * link's bound endpoints like iqmpc-runtime would and lets a test send any message,
 * well-formed or not, at any time. It may allocate (it stands for the remote side).
 */
#include <stddef.h>
#include <stdint.h>

#include "iqmpc.pb-c.h"

typedef struct {
    void *ctx;
    void *in;   /* PULL (free-running) or REP (lockstep) */
    void *out;  /* PUSH (free-running) or the same REP */
    unsigned char buf[80 * 1024];
} fake_ctl;

int fake_open_free(fake_ctl *f, const char *obs_ep, const char *act_ep);
int fake_open_lockstep(fake_ctl *f, const char *ep);
/* Free-running as a CURVE client: the robot's public key and this controller's pair (Z85). */
int fake_open_free_curve(fake_ctl *f, const char *obs_ep, const char *act_ep, const char *server_public,
                         const char *own_public, const char *own_secret);
void fake_close(fake_ctl *f);

/* Next message decoded (free with iqmpc__v1__envelope__free_unpacked(e, NULL)), or NULL
   after timeout_ms. */
Iqmpc__V1__Envelope *fake_recv(fake_ctl *f, int timeout_ms);
/* Drains and frees everything queued within timeout_ms; returns how many. */
int fake_drain(fake_ctl *f, int timeout_ms);

int fake_send_raw(fake_ctl *f, const void *bytes, size_t len);
int fake_send_env(fake_ctl *f, const Iqmpc__V1__Envelope *env);
int fake_send_ack(fake_ctl *f, int accepted, uint32_t version, const char *message);
int fake_send_action(fake_ctl *f, uint64_t seq, uint64_t obs_seq, const float *values,
                     size_t n, Iqmpc__V1__ActionSource source, Iqmpc__V1__FaultCode fault);
int fake_send_error(fake_ctl *f, Iqmpc__V1__ErrorCode code, Iqmpc__V1__FaultCode fault,
                    int fatal);
int fake_send_reset(fake_ctl *f, uint64_t seed);
int fake_send_shutdown(fake_ctl *f, const char *reason);
int fake_send_heartbeat(fake_ctl *f);

#endif
