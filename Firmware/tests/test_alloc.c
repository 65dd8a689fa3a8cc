/*
 * Allocation tests: the link must not touch the heap after init and handshake, on the
 * normal path and on every fault path. The controller runs in a forked child process so
 * that only the link's process (its thread and libzmq's I/O thread) is counted.
 */
#define _GNU_SOURCE
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zmq.h>

#include "tests.h"

#include "fake_controller.h"
#include "iqmpc_link.h"

#ifdef FW_NO_ALLOC_COUNT
/* Sanitizer build: ASan owns malloc, so the same run goes unmetered (the counts read 0
   and are not asserted); it still drives every fault path under ASan and UBSan. */
static uint64_t fw_alloc_count(void) { return 0; }
static uint64_t fw_alloc_count_this_thread(void) { return 0; }
#else
#include "alloc_count.h"
#endif

#define MS(x) ((uint64_t)(x) * 1000000u)
#define STEPS 2000

static iqmpc_link L;
static fake_ctl F;

static const iqmpc_link_channel OBS[3] = {
    {"pole.angle.cos", "1", -1.0f, 1.0f},
    {"pole.angle.sin", "1", -1.0f, 1.0f},
    {"pole.angular_velocity", "rad/s", -50.0f, 50.0f},
};
static const iqmpc_link_channel ACT[1] = {{"pole.torque", "N m", -2.0f, 2.0f}};
static const float SAFE[1] = {0.0f};

/*
 * Answers like a controller; exits after a terminal frame. Frames with episode == 1 get
 * injected faults: no answer (timeout), late and duplicate answers, garbage, heartbeats,
 * wrong-dimension actions.
 */
static void child_controller(const char *obs_ep, const char *act_ep) {
    uint64_t action_seq = 0, last_obs = 0;
    unsigned char junk[40];
    float v[1];
    memset(junk, 0xee, sizeof junk);
    if (fake_open_free(&F, obs_ep, act_ep) != 0) _exit(2);
    for (;;) {
        Iqmpc__V1__Envelope *e = fake_recv(&F, 5000);
        uint64_t s;
        int terminal, faults;
        if (e == NULL) _exit(3);
        if (e->body_case == IQMPC__V1__ENVELOPE__BODY_HELLO) {
            fake_send_ack(&F, 1, IQMPC_LINK_PROTOCOL_VERSION, NULL);
            iqmpc__v1__envelope__free_unpacked(e, NULL);
            continue;
        }
        if (e->body_case != IQMPC__V1__ENVELOPE__BODY_OBSERVATION) {
            iqmpc__v1__envelope__free_unpacked(e, NULL);
            continue;
        }
        s = e->observation->seq;
        terminal = e->observation->terminal;
        faults = e->observation->episode == 1 && !terminal;
        v[0] = e->observation->values[0] * 0.5f;
        iqmpc__v1__envelope__free_unpacked(e, NULL);
        if (faults && s % 10 == 3 && last_obs != 0) /* a late answer to the previous frame */
            fake_send_action(&F, ++action_seq, last_obs, v, 1,
                             IQMPC__V1__ACTION_SOURCE__ACTION_SOURCE_PLANNER,
                             IQMPC__V1__FAULT_CODE__FAULT_NONE);
        if (faults && s % 17 == 5) fake_send_raw(&F, junk, sizeof junk);
        if (faults && s % 23 == 7) fake_send_heartbeat(&F);
        last_obs = s;
        if (faults && s % 50 == 0) continue; /* no answer: the link times out */
        if (faults && s % 31 == 11) { /* wrong dimension: the link falls back */
            float two[2] = {0.0f, 0.0f};
            fake_send_action(&F, ++action_seq, s, two, 2,
                             IQMPC__V1__ACTION_SOURCE__ACTION_SOURCE_PLANNER,
                             IQMPC__V1__FAULT_CODE__FAULT_NONE);
        } else {
            fake_send_action(&F, ++action_seq, s, v, 1,
                             IQMPC__V1__ACTION_SOURCE__ACTION_SOURCE_PLANNER,
                             IQMPC__V1__FAULT_CODE__FAULT_NONE);
        }
        if (faults && s % 29 == 13) /* and a duplicate of it */
            fake_send_action(&F, action_seq, s, v, 1,
                             IQMPC__V1__ACTION_SOURCE__ACTION_SOURCE_PLANNER,
                             IQMPC__V1__FAULT_CODE__FAULT_NONE);
        if (terminal) {
            fake_close(&F);
            _exit(0);
        }
    }
}

typedef struct {
    uint64_t total, caller;
} alloc_delta;

static alloc_delta run_steps(int steps, uint32_t episode, uint64_t timeout_ns) {
    iqmpc_link_action out;
    iqmpc_link_frame_flags fl = {0, 0, 0};
    float obs[3] = {1.0f, 0.0f, 0.0f};
    alloc_delta d;
    uint64_t t0 = fw_alloc_count(), c0 = fw_alloc_count_this_thread();
    int i;
    fl.episode = episode;
    for (i = 0; i < steps; i++) {
        obs[0] = (float)(i % 7) * 0.1f;
        iqmpc_link_step(&L, obs, &fl, timeout_ns, &out);
    }
    d.total = fw_alloc_count() - t0;
    d.caller = fw_alloc_count_this_thread() - c0;
    return d;
}

/*
 * Steady state means after libzmq's queues have grown once: its pipes allocate a chunk the
 * first time they pass 256 messages (and their command mailboxes 16), then recycle. The
 * warm-up runs the same traffic as the measured runs, long enough to cross those points.
 */
static void test_zero_allocations_after_init(void) {
    iqmpc_link_config c;
    iqmpc_link_action out;
    iqmpc_link_counters k0, k;
    iqmpc_link_frame_flags last = {0, 1, 0};
    char obs_ep[128], act_ep[128];
    float obs[3] = {1.0f, 0.0f, 0.0f};
    alloc_delta clean, faulty;
    int status = -1;
    pid_t pid;

    memset(&c, 0, sizeof c);
    c.mode = IQMPC_LINK_FREE_RUNNING;
    c.obs_endpoint = "tcp://127.0.0.1:*";
    c.act_endpoint = "tcp://127.0.0.1:*";
    c.robot_id = "pendulum-swingup";
    c.obs_dim = 3;
    c.act_dim = 1;
    c.observations = OBS;
    c.actions = ACT;
    c.control_period_ns = MS(20);
    c.safe_action = SAFE;
    REQUIRE(iqmpc_link_init(&L, &c) == IQMPC_LINK_OK);
    iqmpc_link_endpoint(&L, 0, obs_ep, sizeof obs_ep);
    iqmpc_link_endpoint(&L, 1, act_ep, sizeof act_ep);
    fflush(NULL);
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) child_controller(obs_ep, act_ep); /* never returns */

    CHECK(iqmpc_link_handshake(&L, MS(5000)) == IQMPC_LINK_OK);
    run_steps(600, 1, MS(20)); /* warm-up, faults included */
    run_steps(600, 0, MS(200));
#ifdef FW_ALLOC_TRACE
    { extern int fw_alloc_trace_armed; fw_alloc_trace_armed = 1; }
#endif
    iqmpc_link_counters_get(&L, &k0);
    clean = run_steps(STEPS, 0, MS(200));
    iqmpc_link_counters_get(&L, &k);
    faulty = run_steps(STEPS, 1, MS(20));
#ifdef FW_ALLOC_TRACE
    { extern int fw_alloc_trace_armed; fw_alloc_trace_armed = 0; }
#endif
    CHECK_MSG(k.actions_applied - k0.actions_applied == STEPS, "clean run applied %llu",
              (unsigned long long)(k.actions_applied - k0.actions_applied));
    k0 = k;
    iqmpc_link_counters_get(&L, &k);

    iqmpc_link_step(&L, obs, &last, MS(1000), &out);
    waitpid(pid, &status, 0);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "controller status %d", status);
    iqmpc_link_close(&L);

#ifndef FW_NO_ALLOC_COUNT
    CHECK_MSG(clean.total == 0, "%llu allocations in %d clean steps",
              (unsigned long long)clean.total, STEPS);
    CHECK_MSG(faulty.caller == 0, "%llu allocations on the caller's thread in %d faulty steps",
              (unsigned long long)faulty.caller, STEPS);
#endif
    /* the faulty run must have exercised the fault paths, or it proves little */
    CHECK(k.fault[IQMPC_LINK_FAULT_TIMEOUT] - k0.fault[IQMPC_LINK_FAULT_TIMEOUT] >= 10);
    CHECK(k.fault[IQMPC_LINK_FAULT_WRONG_DIMENSION] - k0.fault[IQMPC_LINK_FAULT_WRONG_DIMENSION] >= 10);
    CHECK(k.late + k.duplicate - k0.late - k0.duplicate >= 50);
    CHECK(k.malformed - k0.malformed >= 50);
    CHECK(k.heartbeats - k0.heartbeats >= 50);
#ifdef FW_NO_ALLOC_COUNT
    (void)clean;
    (void)faulty;
    printf("     %d clean + %d faulty steps (allocations not metered under ASan)\n", STEPS, STEPS);
#else
    printf("     clean %d steps: %llu allocations; faulty %d steps: %llu on the caller's thread, "
           "%llu in libzmq's I/O thread (timeouts %llu, late %llu, dup %llu, malformed %llu)\n",
           STEPS, (unsigned long long)clean.total, STEPS, (unsigned long long)faulty.caller,
           (unsigned long long)(faulty.total - faulty.caller),
           (unsigned long long)(k.fault[IQMPC_LINK_FAULT_TIMEOUT] - k0.fault[IQMPC_LINK_FAULT_TIMEOUT]),
           (unsigned long long)(k.late - k0.late), (unsigned long long)(k.duplicate - k0.duplicate),
           (unsigned long long)(k.malformed - k0.malformed));
#endif
}

#ifndef FW_NO_ALLOC_COUNT
/* The counter sees a direct malloc and one made inside libzmq (a shared library, another
   translation unit): without these the zero above could be a dead counter. */
static void test_counter_positive_controls(void) {
    uint64_t c0, c1, c2;
    void *ctx, *a, *b;
    char payload[200], buf[256];
    c0 = fw_alloc_count();
    fw_alloc_probe();
    c1 = fw_alloc_count();
    CHECK(c1 - c0 == 1);

    ctx = zmq_ctx_new();
    a = zmq_socket(ctx, ZMQ_PAIR);
    b = zmq_socket(ctx, ZMQ_PAIR);
    REQUIRE(zmq_bind(a, "inproc://alloc-control") == 0);
    REQUIRE(zmq_connect(b, "inproc://alloc-control") == 0);
    memset(payload, 1, sizeof payload);
    c1 = fw_alloc_count();
    CHECK(zmq_send(a, payload, sizeof payload, 0) == (int)sizeof payload); /* >33 B: mallocs */
    c2 = fw_alloc_count();
    CHECK(zmq_recv(b, buf, sizeof buf, 0) == (int)sizeof payload);
    CHECK_MSG(c2 > c1, "zmq_send of 200 bytes counted %llu", (unsigned long long)(c2 - c1));
    zmq_close(a);
    zmq_close(b);
    zmq_ctx_term(ctx);
}

static const harness_test ALLOC_TESTS[] = {
    {"zero_allocations_after_init", test_zero_allocations_after_init},
    {"counter_positive_controls", test_counter_positive_controls},
};
#else
static const harness_test ALLOC_TESTS[] = {
    {"forked_controller_run_uncounted", test_zero_allocations_after_init},
};
#endif

const harness_test *alloc_test_list(size_t *count) {
    *count = sizeof ALLOC_TESTS / sizeof ALLOC_TESTS[0];
    return ALLOC_TESTS;
}


