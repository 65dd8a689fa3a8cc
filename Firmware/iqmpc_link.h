#ifndef IQMPC_LINK_H
#define IQMPC_LINK_H
/*
 * iqmpc_link: the robot side of the iqmpc wire protocol (Proto/iqmpc.proto), in C99.
 *
 * The robot is the fixed end of a deployment: it binds, publishes sensor frames and
 * applies whatever action the link hands back. The link guarantees three things the
 * robot's control loop can rely on:
 *   - every call returns within the caller's timeout (waits use CLOCK_MONOTONIC deadlines);
 *   - every step yields an action to apply: the controller's, or the configured safe
 *     action when the controller is late, absent, refused the handshake or sent
 *     something unusable (the reason is reported and counted);
 *   - after iqmpc_link_init nothing allocates: every buffer lives inside `iqmpc_link`,
 *     which the caller places in static storage (it is a few hundred KiB).
 *
 * Not thread-safe: one thread owns a link. See Firmware/README.md for the timing model.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "iqmpc_arena.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Protocol bounds (Proto/iqmpc.proto `Bounds`; iqmpc_link.c checks they agree). */
#define IQMPC_LINK_PROTOCOL_VERSION 1u
#define IQMPC_LINK_MAX_OBS_DIM 256u
#define IQMPC_LINK_MAX_ACT_DIM 64u
#define IQMPC_LINK_MAX_FRAME_BYTES 4096u
#define IQMPC_LINK_MAX_CONTROL_BYTES 65536u
#define IQMPC_LINK_MAX_NAME_BYTES 63u

/*
 * Observation frames are sent zero-copy (zmq_send_const), so a frame's buffer must stay
 * untouched until libzmq has encoded it. At most SNDHWM frames wait in the socket's queue
 * plus one in the encoder; the ring holds more slots than that, so a slot is never reused
 * while queued. Assumes one connected controller per link (see README).
 */
#define IQMPC_LINK_SNDHWM 2
#define IQMPC_LINK_TX_SLOTS 8u
/* Decoding scratch: a 64 KiB control message unpacks into far less than this. */
#define IQMPC_LINK_ARENA_BYTES (192u * 1024u)
#define IQMPC_LINK_ERROR_BYTES 256u
/* CURVE: controller keys a link may authorise; Z85 keys are 40 characters. */
#define IQMPC_LINK_MAX_AUTHORISED_KEYS 16u
#define IQMPC_LINK_Z85_KEY_CHARS 40u

typedef enum {
    IQMPC_LINK_FREE_RUNNING = 1, /* robot PUSHes observations, PULLs actions (both bound) */
    IQMPC_LINK_LOCKSTEP = 2      /* robot/simulator REQ bound; one request in flight */
} iqmpc_link_mode;

/* Return codes of the functions below (0 = success). */
typedef enum {
    IQMPC_LINK_OK = 0,
    IQMPC_LINK_ERR_CONFIG = -1,  /* invalid configuration; see iqmpc_link_last_error */
    IQMPC_LINK_ERR_ZMQ = -2,     /* socket creation or bind failed */
    IQMPC_LINK_ERR_TIMEOUT = -3, /* handshake not answered in time */
    IQMPC_LINK_ERR_REFUSED = -4, /* controller refused the spec or the protocol version */
    IQMPC_LINK_ERR_ARG = -5      /* NULL or out-of-range argument */
} iqmpc_link_status;

/* Why the step's values are the safe action (IQMPC_LINK_FAULT_NONE: the controller's). */
typedef enum {
    IQMPC_LINK_FAULT_NONE = 0,
    IQMPC_LINK_FAULT_TIMEOUT,         /* no matching action before the deadline */
    IQMPC_LINK_FAULT_NO_SESSION,      /* no accepted handshake (yet); Hello was (re)sent */
    IQMPC_LINK_FAULT_SEND_FAILED,     /* observation not queued: no controller connected */
    IQMPC_LINK_FAULT_BAD_OBSERVATION, /* caller's observation had NaN/Inf: not sent */
    IQMPC_LINK_FAULT_WRONG_DIMENSION, /* matching action had the wrong length */
    IQMPC_LINK_FAULT_NON_FINITE,      /* matching action had NaN/Inf */
    IQMPC_LINK_FAULT_OUT_OF_LIMITS,   /* matching action outside the spec's actuator limits */
    IQMPC_LINK_FAULT_CONTROLLER_ERROR,/* controller answered the frame with an Error */
    IQMPC_LINK_FAULT_SHUTDOWN,        /* controller announced shutdown */
    IQMPC_LINK_FAULT_RESET,           /* lockstep: controller asked for a new episode */
    IQMPC_LINK_FAULT_COUNT
} iqmpc_link_fault;

/* One channel of the robot's spec. Strings are at most IQMPC_LINK_MAX_NAME_BYTES. */
typedef struct {
    const char *name;
    const char *unit;
    float low;  /* physical bound; for actions the hard actuator limit */
    float high;
} iqmpc_link_channel;

typedef struct {
    iqmpc_link_mode mode;
    /* Both bound by the robot. Free-running: observations (PUSH) and actions (PULL).
       Lockstep: obs_endpoint is the REQ socket; act_endpoint is ignored. */
    const char *obs_endpoint;
    const char *act_endpoint;
    /* The spec sent in Hello; the controller refuses it when it does not match its model. */
    const char *robot_id;
    uint32_t obs_dim; /* 1..IQMPC_LINK_MAX_OBS_DIM */
    uint32_t act_dim; /* 1..IQMPC_LINK_MAX_ACT_DIM */
    const iqmpc_link_channel *observations; /* obs_dim entries */
    const iqmpc_link_channel *actions;      /* act_dim entries, with actuator limits */
    uint64_t control_period_ns;
    uint32_t episode_length; /* 0 = unbounded */
    /* Applied on every fault: act_dim finite values within the action limits. */
    const float *safe_action;
    const char *software;        /* free-form, e.g. "acme-arm-fw 2.1"; may be NULL */
    uint32_t hello_interval_ms;  /* Hello resend period while unanswered; 0 = 100 ms */
    /*
     * CURVE (Proto/README.md "Security"): the robot is the CURVE server of both sockets.
     * curve_secret_key: this robot's secret key, Z85 (40 characters; iqmpc-runtime keygen);
     * NULL = no CURVE. curve_authorised_keys: the controllers' public keys (Z85) a ZAP
     * handler thread admits; every other client gets no session and is counted
     * (counters.auth_refusals) and reported through on_refusal (called on that thread).
     */
    const char *curve_secret_key;
    const char *const *curve_authorised_keys;
    uint32_t n_curve_authorised_keys; /* 1..IQMPC_LINK_MAX_AUTHORISED_KEYS with CURVE */
    void (*on_refusal)(const char *z85_public_key, const char *address, void *user);
    void *on_refusal_user;
    /* Without CURVE a tcp:// endpoint that is not loopback is refused unless this is set
       (then iqmpc_link_warning says so). */
    int allow_insecure;
} iqmpc_link_config;

/* What a step hands back. values[0..act_dim) is always safe to apply. */
typedef struct {
    float values[IQMPC_LINK_MAX_ACT_DIM];
    uint32_t n_values;            /* = act_dim */
    int fallback;                 /* 1 when values are the configured safe action */
    iqmpc_link_fault fault;       /* why (IQMPC_LINK_FAULT_NONE when fallback == 0) */
    uint64_t observation_seq;     /* seq of the published frame (0 if none was sent) */
    uint64_t action_seq;          /* controller's Action.seq (0 on fallback) */
    uint64_t round_trip_ns;       /* publish to matching action received (0 on fallback) */
    /* Controller diagnostics of the applied action (Proto ActionSource / FaultCode). */
    int controller_source;
    uint32_t controller_iterations;
    uint32_t controller_plan_time_us;
    int controller_deadline_missed;
    int controller_fault;
    uint64_t reset_seed;          /* lockstep, fault == IQMPC_LINK_FAULT_RESET */
} iqmpc_link_action;

/* Cumulative counters since init; read them with iqmpc_link_counters_get. */
typedef struct {
    uint64_t observations_sent;
    uint64_t send_failures;    /* observation or Hello not queued (no peer / queue full) */
    uint64_t actions_applied;  /* matching controller actions handed to the caller */
    uint64_t fallbacks;        /* steps that got the safe action, any reason */
    uint64_t fault[IQMPC_LINK_FAULT_COUNT]; /* fallbacks by reason */
    uint64_t late;             /* answered an earlier, already given-up frame: discarded */
    uint64_t duplicate;        /* answered a frame that already had its action: discarded */
    uint64_t out_of_order;     /* Action.seq went backwards or answered an unsent frame */
    uint64_t unsolicited;      /* controller watchdog/shutdown actions (observation_seq 0) */
    uint64_t malformed;        /* did not parse as an Envelope */
    uint64_t oversized;        /* larger than the protocol's frame bounds */
    uint64_t unexpected;       /* valid message of a type not expected here */
    uint64_t heartbeats;
    uint64_t hellos_sent;
    uint64_t handshakes;       /* accepted HelloAcks */
    uint64_t refusals;         /* refused HelloAcks */
    uint64_t session_losses;   /* controller forgot us (restart, NO_HANDSHAKE, shutdown) */
    uint64_t arena_high_water; /* decode scratch bytes ever used */
    uint64_t auth_refusals;    /* CURVE clients refused by the ZAP handler (unknown key) */
} iqmpc_link_counters;

/* Everything a link needs; fields are private. Give it static storage. */
typedef struct iqmpc_link {
    void *ctx;
    void *obs_sock; /* free-running PUSH, lockstep REQ */
    void *act_sock; /* free-running PULL, lockstep = obs_sock */
    int wait_fd;    /* ZMQ_FD of act_sock */
    iqmpc_link_mode mode;
    int state;
    uint32_t obs_dim;
    uint32_t act_dim;
    float safe_action[IQMPC_LINK_MAX_ACT_DIM];
    float act_low[IQMPC_LINK_MAX_ACT_DIM];
    float act_high[IQMPC_LINK_MAX_ACT_DIM];
    uint64_t hello_interval_ns;
    uint64_t last_hello_ns;
    int hello_ever_sent;
    uint64_t last_seq;        /* seq of the newest published observation */
    uint64_t pending_seq;     /* published and not yet answered/given up (0: none) */
    uint64_t pending_sent_ns;
    uint64_t answered_bits;   /* bit i: frame last_seq - i got its action */
    uint64_t last_action_seq; /* newest accepted Action.seq this session */
    uint32_t tx_next;
    size_t hello_len;
    iqmpc_link_fault pending_fault; /* publish-time fault for the next receive */
    IqmpcArena arena;
    iqmpc_link_counters counters;
    char last_error[IQMPC_LINK_ERROR_BYTES];
    char warning[IQMPC_LINK_ERROR_BYTES];
    /* CURVE's ZAP handler: its own thread, never on the step path. */
    void *zap_sock;
    pthread_t zap_thread;
    int zap_running;
    int zap_stop;                 /* written by close, read by the ZAP thread (atomics) */
    uint64_t zap_refusals;        /* written by the ZAP thread (atomics) */
    uint32_t n_authorised;
    uint8_t authorised[IQMPC_LINK_MAX_AUTHORISED_KEYS][32];
    void (*on_refusal)(const char *, const char *, void *);
    void *on_refusal_user;
    union {
        long double align_;
        uint8_t bytes[IQMPC_LINK_ARENA_BYTES];
    } arena_mem;
    uint8_t hello_buf[IQMPC_LINK_MAX_CONTROL_BYTES];
    uint8_t tx[IQMPC_LINK_TX_SLOTS][IQMPC_LINK_MAX_FRAME_BYTES];
    uint8_t rx[IQMPC_LINK_MAX_CONTROL_BYTES];
} iqmpc_link;

/* Flags of one published frame. */
typedef struct {
    int episode_start; /* first frame of an episode: resets the controller's warm start */
    int terminal;      /* last frame of an episode */
    uint32_t episode;  /* informational episode counter */
} iqmpc_link_frame_flags;

/*
 * Validates the config, creates the ZeroMQ context and sockets, binds, and packs Hello.
 * The only function that allocates (libzmq's context, sockets and I/O thread).
 * On failure returns < 0 with the reason in iqmpc_link_last_error and nothing left open.
 */
int iqmpc_link_init(iqmpc_link *link, const iqmpc_link_config *config);

/*
 * Sends Hello every hello_interval_ms until the controller answers HelloAck or timeout_ns
 * passes. IQMPC_LINK_OK, IQMPC_LINK_ERR_TIMEOUT, or IQMPC_LINK_ERR_REFUSED (reason in
 * iqmpc_link_last_error). Optional: steps handshake by themselves when needed.
 */
int iqmpc_link_handshake(iqmpc_link *link, uint64_t timeout_ns);

/*
 * Publishes one sensor frame (obs_dim values in physical units) without blocking and
 * remembers it as the frame whose action iqmpc_link_receive waits for. flags may be NULL.
 * Without a session it (re)sends Hello instead. Returns IQMPC_LINK_OK or ERR_ARG; send
 * problems are reported by the following receive as a fallback.
 */
int iqmpc_link_publish(iqmpc_link *link, const float *obs, const iqmpc_link_frame_flags *flags);

/*
 * Waits at most timeout_ns for the action answering the last published frame, discarding
 * (and counting) late, duplicate, out-of-order, malformed and oversized messages on the way.
 * Fills *out with the controller's action or the safe action. Returns IQMPC_LINK_OK or ERR_ARG.
 */
int iqmpc_link_receive(iqmpc_link *link, uint64_t timeout_ns, iqmpc_link_action *out);

/* publish + receive; timeout_ns bounds the whole call. */
int iqmpc_link_step(iqmpc_link *link, const float *obs, const iqmpc_link_frame_flags *flags,
                    uint64_t timeout_ns, iqmpc_link_action *out);

/*
 * Tells the controller the session ends (Shutdown envelope, sent without blocking). The
 * link stays usable: the next step says Hello again. IQMPC_LINK_ERR_ZMQ if it could not
 * be queued (no controller connected). iqmpc_link_close drops unsent frames, so leave the
 * I/O thread a few milliseconds between the two.
 */
int iqmpc_link_shutdown(iqmpc_link *link, const char *reason);

/* Copies the counters (safe to call at any time from the owning thread). */
void iqmpc_link_counters_get(const iqmpc_link *link, iqmpc_link_counters *out);

/* 1 while a handshake is accepted and not lost. */
int iqmpc_link_connected(const iqmpc_link *link);

/* Last refusal or configuration error as text ("" if none). */
const char *iqmpc_link_last_error(const iqmpc_link *link);

/* Exposure the configuration allowed but an operator should know about (an insecure
   network endpoint, a wildcard bind), "" if none. Set by iqmpc_link_init. */
const char *iqmpc_link_warning(const iqmpc_link *link);

/* Name of a fault, for logs. */
const char *iqmpc_link_fault_name(iqmpc_link_fault fault);

/* Monotonic clock in nanoseconds (the clock every timestamp of the link uses). */
uint64_t iqmpc_link_now_ns(void);

/*
 * The endpoint a socket actually bound (which = 0: observations/REQ, 1: actions), e.g. to
 * learn the port after binding "tcp://127.0.0.1:*". NUL-terminated in buf.
 */
int iqmpc_link_endpoint(const iqmpc_link *link, int which, char *buf, size_t len);

/* Closes the sockets and the context (linger 0: unsent frames are dropped). */
void iqmpc_link_close(iqmpc_link *link);

#ifdef __cplusplus
}
#endif
#endif
