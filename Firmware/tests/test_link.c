/*
 * Tests of iqmpc_link over real ZeroMQ sockets on loopback TCP against the scripted fake
 * controller. Most tests are single-threaded: publish never blocks and receive has a
 * timeout, so the test plays the controller between the two calls.
 */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zmq.h>

#include "fake_controller.h"
#include "harness.h"
#include "iqmpc_link.h"
#include "tests.h"

/* Scheduling slack on 2 shared cores; the link itself computes exact deadlines. */
#define SLACK_NS (200u * 1000000u)
#define MS(x) ((uint64_t)(x) * 1000000u)

static iqmpc_link L;
static fake_ctl F;
static char obs_ep[128], act_ep[128];

static const iqmpc_link_channel OBS[3] = {
    {"pole.angle.cos", "1", -1.0f, 1.0f},
    {"pole.angle.sin", "1", -1.0f, 1.0f},
    {"pole.angular_velocity", "rad/s", -50.0f, 50.0f},
};
static const iqmpc_link_channel ACT[1] = {{"pole.torque", "N m", -2.0f, 2.0f}};
static const float SAFE[1] = {0.25f};
static const float OBS_VALUES[3] = {-1.0f, 0.0f, 0.5f};

static iqmpc_link_config base_config(iqmpc_link_mode mode) {
    iqmpc_link_config c;
    memset(&c, 0, sizeof c);
    c.mode = mode;
    c.obs_endpoint = "tcp://127.0.0.1:*";
    c.act_endpoint = "tcp://127.0.0.1:*";
    c.robot_id = "pendulum-swingup";
    c.obs_dim = 3;
    c.act_dim = 1;
    c.observations = OBS;
    c.actions = ACT;
    c.control_period_ns = MS(20);
    c.episode_length = 0;
    c.safe_action = SAFE;
    c.software = "iqmpc_link tests";
    c.hello_interval_ms = 20;
    return c;
}

static int open_pair(iqmpc_link_mode mode) {
    iqmpc_link_config c = base_config(mode);
    int rc = iqmpc_link_init(&L, &c);
    if (rc != IQMPC_LINK_OK) {
        fprintf(stderr, "    init: %s\n", iqmpc_link_last_error(&L));
        return -1;
    }
    iqmpc_link_endpoint(&L, 0, obs_ep, sizeof obs_ep);
    iqmpc_link_endpoint(&L, 1, act_ep, sizeof act_ep);
    if (mode == IQMPC_LINK_FREE_RUNNING) return fake_open_free(&F, obs_ep, act_ep);
    return fake_open_lockstep(&F, obs_ep);
}

static void close_pair(void) {
    fake_close(&F);
    iqmpc_link_close(&L);
}

/* Drives steps until the fake controller sees Hello, checks it, and accepts it. */
static int connect_via_steps(void) {
    iqmpc_link_action out;
    int attempt;
    for (attempt = 0; attempt < 100; attempt++) {
        Iqmpc__V1__Envelope *e;
        iqmpc_link_publish(&L, OBS_VALUES, NULL);
        e = fake_recv(&F, 30);
        if (e != NULL && e->body_case == IQMPC__V1__ENVELOPE__BODY_HELLO) {
            iqmpc__v1__envelope__free_unpacked(e, NULL);
            fake_send_ack(&F, 1, IQMPC_LINK_PROTOCOL_VERSION, NULL);
            iqmpc_link_receive(&L, MS(1000), &out);
            if (L.mode == IQMPC_LINK_FREE_RUNNING) fake_drain(&F, 0); /* REP must answer */
            return iqmpc_link_connected(&L) && out.fallback &&
                           out.fault == IQMPC_LINK_FAULT_NO_SESSION
                       ? 0
                       : -1;
        }
        if (e != NULL) iqmpc__v1__envelope__free_unpacked(e, NULL);
        iqmpc_link_receive(&L, 0, &out);
    }
    return -1;
}

/* Next message that is not a repeated Hello (the link may say Hello more than once). */
static Iqmpc__V1__Envelope *recv_skip_hello(int timeout_ms) {
    for (;;) {
        Iqmpc__V1__Envelope *e = fake_recv(&F, timeout_ms);
        if (e == NULL || e->body_case != IQMPC__V1__ENVELOPE__BODY_HELLO) return e;
        iqmpc__v1__envelope__free_unpacked(e, NULL);
    }
}

/* Publishes and returns the observation the controller received (seq in *seq). */
static int publish_and_see(const float *obs, uint64_t *seq) {
    Iqmpc__V1__Envelope *e;
    iqmpc_link_publish(&L, obs, NULL);
    e = recv_skip_hello(1000);
    if (e == NULL) return -1;
    if (e->body_case != IQMPC__V1__ENVELOPE__BODY_OBSERVATION) {
        iqmpc__v1__envelope__free_unpacked(e, NULL);
        return -1;
    }
    *seq = e->observation->seq;
    iqmpc__v1__envelope__free_unpacked(e, NULL);
    return 0;
}

static const float GOOD[1] = {1.5f};

/* ---------------------------------------------------------------- configuration */

static void test_config_errors(void) {
    iqmpc_link_config c = base_config(IQMPC_LINK_FREE_RUNNING);
    iqmpc_link_channel long_name[1];
    char name[80];
    float bad_safe[1] = {3.0f};
    float nan_safe[1] = {NAN};

    c.obs_dim = 0;
    CHECK(iqmpc_link_init(&L, &c) == IQMPC_LINK_ERR_CONFIG);
    CHECK(strstr(iqmpc_link_last_error(&L), "obs_dim") != NULL);

    c = base_config(IQMPC_LINK_FREE_RUNNING);
    c.act_dim = 65;
    CHECK(iqmpc_link_init(&L, &c) == IQMPC_LINK_ERR_CONFIG);
    CHECK(strstr(iqmpc_link_last_error(&L), "act_dim") != NULL);

    c = base_config(IQMPC_LINK_FREE_RUNNING);
    c.safe_action = bad_safe;
    CHECK(iqmpc_link_init(&L, &c) == IQMPC_LINK_ERR_CONFIG);
    CHECK(strstr(iqmpc_link_last_error(&L), "pole.torque") != NULL);
    c.safe_action = nan_safe;
    CHECK(iqmpc_link_init(&L, &c) == IQMPC_LINK_ERR_CONFIG);

    c = base_config(IQMPC_LINK_FREE_RUNNING);
    memset(name, 'x', 64);
    name[64] = '\0';
    long_name[0] = ACT[0];
    long_name[0].name = name;
    c.actions = long_name;
    CHECK(iqmpc_link_init(&L, &c) == IQMPC_LINK_ERR_CONFIG);
    CHECK(strstr(iqmpc_link_last_error(&L), "63") != NULL);

    c = base_config(IQMPC_LINK_FREE_RUNNING);
    c.act_endpoint = NULL;
    CHECK(iqmpc_link_init(&L, &c) == IQMPC_LINK_ERR_CONFIG);

    c = base_config(IQMPC_LINK_FREE_RUNNING);
    c.mode = (iqmpc_link_mode)7;
    CHECK(iqmpc_link_init(&L, &c) == IQMPC_LINK_ERR_CONFIG);

    CHECK(iqmpc_link_init(&L, NULL) == IQMPC_LINK_ERR_ARG);
    CHECK(iqmpc_link_init(NULL, &c) == IQMPC_LINK_ERR_ARG);
}

static void test_bind_error(void) {
    static iqmpc_link second;
    iqmpc_link_config c = base_config(IQMPC_LINK_FREE_RUNNING);
    REQUIRE(open_pair(IQMPC_LINK_FREE_RUNNING) == 0);
    c.obs_endpoint = obs_ep; /* already bound by L */
    CHECK(iqmpc_link_init(&second, &c) == IQMPC_LINK_ERR_ZMQ);
    CHECK(strstr(iqmpc_link_last_error(&second), obs_ep) != NULL);
    close_pair();
}

/* ---------------------------------------------------------------- handshake */

static void test_hello_carries_spec(void) {
    Iqmpc__V1__Envelope *e = NULL;
    int i;
    REQUIRE(open_pair(IQMPC_LINK_FREE_RUNNING) == 0);
    for (i = 0; i < 100 && e == NULL; i++) {
        iqmpc_link_action out;
        iqmpc_link_publish(&L, OBS_VALUES, NULL);
        e = fake_recv(&F, 30);
        iqmpc_link_receive(&L, 0, &out);
        CHECK(out.fallback && out.fault == IQMPC_LINK_FAULT_NO_SESSION);
        CHECK(out.values[0] == SAFE[0]);
    }
    REQUIRE(e != NULL);
    CHECK(e->body_case == IQMPC__V1__ENVELOPE__BODY_HELLO);
    if (e->body_case == IQMPC__V1__ENVELOPE__BODY_HELLO) {
        Iqmpc__V1__Hello *h = e->hello;
        CHECK(h->protocol_version == 1);
        CHECK(h->role == IQMPC__V1__ROLE__ROLE_ROBOT);
        CHECK(h->mode == IQMPC__V1__LINK_MODE__LINK_MODE_FREE_RUNNING);
        CHECK(strcmp(h->software, "iqmpc_link tests") == 0);
        REQUIRE(h->spec != NULL);
        CHECK(strcmp(h->spec->robot_id, "pendulum-swingup") == 0);
        CHECK(h->spec->obs_dim == 3 && h->spec->act_dim == 1);
        CHECK(h->spec->n_observations == 3 && h->spec->n_actions == 1);
        CHECK(strcmp(h->spec->observations[2]->name, "pole.angular_velocity") == 0);
        CHECK(strcmp(h->spec->observations[2]->unit, "rad/s") == 0);
        CHECK(h->spec->actions[0]->low == -2.0f && h->spec->actions[0]->high == 2.0f);
        CHECK(h->spec->control_period_ns == MS(20));
    }
    iqmpc__v1__envelope__free_unpacked(e, NULL);
    CHECK(!iqmpc_link_connected(&L));
    close_pair();
}

static void test_handshake_via_steps(void) {
    iqmpc_link_counters k;
    REQUIRE(open_pair(IQMPC_LINK_FREE_RUNNING) == 0);
    CHECK(connect_via_steps() == 0);
    iqmpc_link_counters_get(&L, &k);
    CHECK(k.handshakes == 1);
    CHECK(k.hellos_sent >= 1);
    close_pair();
}

static void test_handshake_timeout(void) {
    uint64_t t0, dt;
    REQUIRE(open_pair(IQMPC_LINK_FREE_RUNNING) == 0);
    t0 = iqmpc_link_now_ns();
    CHECK(iqmpc_link_handshake(&L, MS(150)) == IQMPC_LINK_ERR_TIMEOUT);
    dt = iqmpc_link_now_ns() - t0;
    CHECK_MSG(dt >= MS(150) && dt < MS(150) + SLACK_NS, "waited %llu ns", (unsigned long long)dt);
    CHECK(fake_drain(&F, 20) >= 2); /* Hello was repeated every 20 ms */
    close_pair();
}

static void *accepting_peer(void *arg) {
    int accept = *(int *)arg;
    Iqmpc__V1__Envelope *e = fake_recv(&F, 2000);
    if (e != NULL) {
        if (e->body_case == IQMPC__V1__ENVELOPE__BODY_HELLO)
            fake_send_ack(&F, accept, IQMPC_LINK_PROTOCOL_VERSION, "obs_dim 3 != model's 5");
        iqmpc__v1__envelope__free_unpacked(e, NULL);
    }
    return NULL;
}

static void test_handshake_blocking(void) {
    pthread_t t;
    int accept = 1;
    REQUIRE(open_pair(IQMPC_LINK_FREE_RUNNING) == 0);
    pthread_create(&t, NULL, accepting_peer, &accept);
    CHECK(iqmpc_link_handshake(&L, MS(3000)) == IQMPC_LINK_OK);
    pthread_join(t, NULL);
    CHECK(iqmpc_link_connected(&L));
    close_pair();
}

static void test_handshake_refused(void) {
    pthread_t t;
    int accept = 0;
    iqmpc_link_counters k;
    REQUIRE(open_pair(IQMPC_LINK_FREE_RUNNING) == 0);
    pthread_create(&t, NULL, accepting_peer, &accept);
    CHECK(iqmpc_link_handshake(&L, MS(3000)) == IQMPC_LINK_ERR_REFUSED);
    pthread_join(t, NULL);
    CHECK(!iqmpc_link_connected(&L));
    CHECK(strstr(iqmpc_link_last_error(&L), "obs_dim 3 != model's 5") != NULL);
    iqmpc_link_counters_get(&L, &k);
    CHECK(k.refusals == 1);
    close_pair();
}

static void test_protocol_version_mismatch(void) {
    iqmpc_link_action out;
    int i, sent = 0;
    REQUIRE(open_pair(IQMPC_LINK_FREE_RUNNING) == 0);
    for (i = 0; i < 100 && !sent; i++) {
        Iqmpc__V1__Envelope *e;
        iqmpc_link_publish(&L, OBS_VALUES, NULL);
        e = fake_recv(&F, 30);
        if (e != NULL) {
            fake_send_ack(&F, 1, 2, NULL); /* "accepted", but by a protocol-2 controller */
            iqmpc__v1__envelope__free_unpacked(e, NULL);
            sent = 1;
        }
        iqmpc_link_receive(&L, sent ? MS(1000) : 0, &out);
    }
    CHECK(sent);
    CHECK(!iqmpc_link_connected(&L));
    CHECK(strstr(iqmpc_link_last_error(&L), "protocol 2") != NULL);
    CHECK(out.fallback && out.values[0] == SAFE[0]);
    close_pair();
}

static void test_bare_error_refusal(void) {
    iqmpc_link_action out;
    int i, sent = 0;
    REQUIRE(open_pair(IQMPC_LINK_FREE_RUNNING) == 0);
    for (i = 0; i < 100 && !sent; i++) {
        Iqmpc__V1__Envelope *e;
        iqmpc_link_publish(&L, OBS_VALUES, NULL);
        e = fake_recv(&F, 30);
        if (e != NULL) {
            fake_send_error(&F, IQMPC__V1__ERROR_CODE__ERROR_SPEC_MISMATCH,
                            IQMPC__V1__FAULT_CODE__FAULT_NONE, 1);
            iqmpc__v1__envelope__free_unpacked(e, NULL);
            sent = 1;
        }
        iqmpc_link_receive(&L, sent ? MS(1000) : 0, &out);
    }
    CHECK(sent);
    CHECK(!iqmpc_link_connected(&L));
    CHECK(strstr(iqmpc_link_last_error(&L), "obs_dim 3 != 5") != NULL);
    CHECK(out.fallback && out.fault == IQMPC_LINK_FAULT_NO_SESSION);
    close_pair();
}

/* ---------------------------------------------------------------- normal steps */

static void test_steps_match(void) {
    iqmpc_link_action out;
    iqmpc_link_counters k, k0;
    uint64_t seq, prev = 0;
    int i;
    REQUIRE(open_pair(IQMPC_LINK_FREE_RUNNING) == 0);
    REQUIRE(connect_via_steps() == 0);
    iqmpc_link_counters_get(&L, &k0);
    for (i = 0; i < 20; i++) {
        float v[1];
        Iqmpc__V1__Envelope *e;
        iqmpc_link_frame_flags fl;
        fl.episode_start = i == 0;
        fl.terminal = i == 19;
        fl.episode = 4;
        iqmpc_link_publish(&L, OBS_VALUES, &fl);
        e = recv_skip_hello(1000);
        REQUIRE(e != NULL && e->body_case == IQMPC__V1__ENVELOPE__BODY_OBSERVATION);
        seq = e->observation->seq;
        CHECK(seq == prev + 1);
        CHECK(e->observation->n_values == 3 && e->observation->values[2] == 0.5f);
        CHECK(e->observation->episode_start == (i == 0));
        CHECK(e->observation->terminal == (i == 19));
        CHECK(e->observation->episode == 4);
        CHECK(e->observation->timestamp_ns > 0 && e->observation->timestamp_ns <= iqmpc_link_now_ns());
        iqmpc__v1__envelope__free_unpacked(e, NULL);
        v[0] = -1.0f + 0.1f * (float)i;
        fake_send_action(&F, 100 + (uint64_t)i, seq, v, 1, IQMPC__V1__ACTION_SOURCE__ACTION_SOURCE_PLANNER,
                         IQMPC__V1__FAULT_CODE__FAULT_NONE);
        CHECK(iqmpc_link_receive(&L, MS(1000), &out) == IQMPC_LINK_OK);
        CHECK(!out.fallback && out.fault == IQMPC_LINK_FAULT_NONE);
        CHECK(out.values[0] == v[0] && out.n_values == 1);
        CHECK(out.observation_seq == seq && out.action_seq == 100 + (uint64_t)i);
        CHECK(out.round_trip_ns > 0);
        CHECK(out.controller_source == IQMPC__V1__ACTION_SOURCE__ACTION_SOURCE_PLANNER);
        CHECK(out.controller_iterations == 6 && out.controller_plan_time_us == 1234);
        prev = seq;
    }
    iqmpc_link_counters_get(&L, &k);
    CHECK(k.actions_applied == 20 && k.fallbacks == k0.fallbacks);
    CHECK(k.observations_sent == 20);
    close_pair();
}

/* The controller's own safe action answering our frame is applied (it is within limits). */
static void test_controller_safe_action_applied(void) {
    iqmpc_link_action out;
    uint64_t seq;
    float v[1] = {0.0f};
    REQUIRE(open_pair(IQMPC_LINK_FREE_RUNNING) == 0);
    REQUIRE(connect_via_steps() == 0);
    REQUIRE(publish_and_see(OBS_VALUES, &seq) == 0);
    fake_send_action(&F, 1, seq, v, 1, IQMPC__V1__ACTION_SOURCE__ACTION_SOURCE_SAFE,
                     IQMPC__V1__FAULT_CODE__FAULT_STALE);
    iqmpc_link_receive(&L, MS(1000), &out);
    CHECK(!out.fallback && out.values[0] == 0.0f);
    CHECK(out.controller_source == IQMPC__V1__ACTION_SOURCE__ACTION_SOURCE_SAFE);
    CHECK(out.controller_fault == IQMPC__V1__FAULT_CODE__FAULT_STALE);
    close_pair();
}

/* ---------------------------------------------------------------- faults */

static void test_timeout_then_late(void) {
    iqmpc_link_action out;
    iqmpc_link_counters k;
    uint64_t s1, s2, t0, dt;
    REQUIRE(open_pair(IQMPC_LINK_FREE_RUNNING) == 0);
    REQUIRE(connect_via_steps() == 0);
    REQUIRE(publish_and_see(OBS_VALUES, &s1) == 0);
    t0 = iqmpc_link_now_ns();
    iqmpc_link_receive(&L, MS(40), &out);
    dt = iqmpc_link_now_ns() - t0;
    CHECK(out.fallback && out.fault == IQMPC_LINK_FAULT_TIMEOUT && out.values[0] == SAFE[0]);
    CHECK(out.observation_seq == s1);
    CHECK_MSG(dt >= MS(40) && dt < MS(40) + SLACK_NS, "waited %llu ns", (unsigned long long)dt);

    REQUIRE(publish_and_see(OBS_VALUES, &s2) == 0);
    CHECK(s2 == s1 + 1);
    fake_send_action(&F, 1, s1, GOOD, 1, IQMPC__V1__ACTION_SOURCE__ACTION_SOURCE_PLANNER,
                     IQMPC__V1__FAULT_CODE__FAULT_NONE); /* the answer to s1, too late */
    fake_send_action(&F, 2, s2, GOOD, 1, IQMPC__V1__ACTION_SOURCE__ACTION_SOURCE_PLANNER,
                     IQMPC__V1__FAULT_CODE__FAULT_NONE);
    iqmpc_link_receive(&L, MS(1000), &out);
    CHECK(!out.fallback && out.observation_seq == s2 && out.values[0] == GOOD[0]);
    iqmpc_link_counters_get(&L, &k);
    CHECK(k.late == 1);
    CHECK(k.fault[IQMPC_LINK_FAULT_TIMEOUT] == 1);
    close_pair();
}

static void test_duplicate_and_out_of_order(void) {
    iqmpc_link_action out;
    iqmpc_link_counters k;
    uint64_t s1, s2;
    REQUIRE(open_pair(IQMPC_LINK_FREE_RUNNING) == 0);
    REQUIRE(connect_via_steps() == 0);
    REQUIRE(publish_and_see(OBS_VALUES, &s1) == 0);
    fake_send_action(&F, 10, s1, GOOD, 1, IQMPC__V1__ACTION_SOURCE__ACTION_SOURCE_PLANNER,
                     IQMPC__V1__FAULT_CODE__FAULT_NONE);
    fake_send_action(&F, 10, s1, GOOD, 1, IQMPC__V1__ACTION_SOURCE__ACTION_SOURCE_PLANNER,
                     IQMPC__V1__FAULT_CODE__FAULT_NONE); /* duplicate, still queued */
    iqmpc_link_receive(&L, MS(1000), &out);
    CHECK(!out.fallback && out.observation_seq == s1);

    REQUIRE(publish_and_see(OBS_VALUES, &s2) == 0);
    /* answers a frame never sent */
    fake_send_action(&F, 11, s2 + 5, GOOD, 1, IQMPC__V1__ACTION_SOURCE__ACTION_SOURCE_PLANNER,
                     IQMPC__V1__FAULT_CODE__FAULT_NONE);
    /* names s2 but its controller seq went backwards: overtaken by a newer action */
    fake_send_action(&F, 9, s2, GOOD, 1, IQMPC__V1__ACTION_SOURCE__ACTION_SOURCE_PLANNER,
                     IQMPC__V1__FAULT_CODE__FAULT_NONE);
    fake_send_action(&F, 12, s2, GOOD, 1, IQMPC__V1__ACTION_SOURCE__ACTION_SOURCE_PLANNER,
                     IQMPC__V1__FAULT_CODE__FAULT_NONE);
    iqmpc_link_receive(&L, MS(1000), &out);
    CHECK(!out.fallback && out.observation_seq == s2 && out.action_seq == 12);
    iqmpc_link_counters_get(&L, &k);
    CHECK(k.duplicate == 1);
    CHECK(k.out_of_order == 2);
    CHECK(k.late == 0);
    close_pair();
}

static void check_bad_action(const float *v, size_t n, iqmpc_link_fault expect) {
    iqmpc_link_action out;
    uint64_t seq, t0, dt;
    static uint64_t action_seq = 1000;
    REQUIRE(publish_and_see(OBS_VALUES, &seq) == 0);
    fake_send_action(&F, ++action_seq, seq, v, n, IQMPC__V1__ACTION_SOURCE__ACTION_SOURCE_PLANNER,
                     IQMPC__V1__FAULT_CODE__FAULT_NONE);
    t0 = iqmpc_link_now_ns();
    iqmpc_link_receive(&L, MS(2000), &out);
    dt = iqmpc_link_now_ns() - t0;
    CHECK_MSG(out.fallback && out.fault == expect, "fault %s", iqmpc_link_fault_name(out.fault));
    CHECK(out.values[0] == SAFE[0] && out.n_values == 1);
    CHECK_MSG(dt < MS(1000), "a bad answer ends the step at once, waited %llu ns",
              (unsigned long long)dt);
}

static void test_bad_actions_fall_back(void) {
    float two[2] = {0.1f, 0.2f};
    float nan1[1] = {NAN};
    float inf1[1] = {INFINITY};
    float big[1] = {2.5f};
    iqmpc_link_counters k;
    REQUIRE(open_pair(IQMPC_LINK_FREE_RUNNING) == 0);
    REQUIRE(connect_via_steps() == 0);
    check_bad_action(two, 2, IQMPC_LINK_FAULT_WRONG_DIMENSION);
    check_bad_action(two, 0, IQMPC_LINK_FAULT_WRONG_DIMENSION);
    check_bad_action(nan1, 1, IQMPC_LINK_FAULT_NON_FINITE);
    check_bad_action(inf1, 1, IQMPC_LINK_FAULT_NON_FINITE);
    check_bad_action(big, 1, IQMPC_LINK_FAULT_OUT_OF_LIMITS);
    iqmpc_link_counters_get(&L, &k);
    CHECK(k.fault[IQMPC_LINK_FAULT_WRONG_DIMENSION] == 2);
    CHECK(k.fault[IQMPC_LINK_FAULT_NON_FINITE] == 2);
    CHECK(k.fault[IQMPC_LINK_FAULT_OUT_OF_LIMITS] == 1);
    CHECK(k.actions_applied == 0);
    close_pair();
}

/* A control message that decodes into more memory than the arena holds. */
static size_t arena_bomb(unsigned char *buf, size_t cap) {
    /* Envelope.hello(1) { spec(3) { observations(4): 20000 x empty Channel } } */
    size_t n_channels = 20000, inner = n_channels * 2, pos = 0, i;
    size_t spec_len = inner, hello_len = 3 + spec_len + 0; /* tag + 3-byte varint + body */
    unsigned char *p = buf;
    if (cap < inner + 16) return 0;
    hello_len = 1 + 3 + spec_len;
    p[pos++] = 0x0a; /* Envelope.hello, length-delimited */
    p[pos++] = (unsigned char)(0x80 | (hello_len & 0x7f));
    p[pos++] = (unsigned char)(0x80 | ((hello_len >> 7) & 0x7f));
    p[pos++] = (unsigned char)((hello_len >> 14) & 0x7f);
    p[pos++] = 0x1a; /* Hello.spec */
    p[pos++] = (unsigned char)(0x80 | (spec_len & 0x7f));
    p[pos++] = (unsigned char)(0x80 | ((spec_len >> 7) & 0x7f));
    p[pos++] = (unsigned char)((spec_len >> 14) & 0x7f);
    for (i = 0; i < n_channels; i++) {
        p[pos++] = 0x22; /* RobotSpec.observations, empty message */
        p[pos++] = 0x00;
    }
    return pos;
}

static void test_malformed_and_oversized(void) {
    static unsigned char junk[60000];
    static float many[2000];
    iqmpc_link_action out;
    iqmpc_link_counters k;
    uint64_t seq;
    size_t i, bomb;
    REQUIRE(open_pair(IQMPC_LINK_FREE_RUNNING) == 0);
    REQUIRE(connect_via_steps() == 0);
    REQUIRE(publish_and_see(OBS_VALUES, &seq) == 0);
    for (i = 0; i < 64; i++) junk[i] = 0xff;
    fake_send_raw(&F, junk, 64);                                     /* malformed */
    junk[0] = 0x22; junk[1] = 0x7f;                                  /* length past the end */
    fake_send_raw(&F, junk, 10);                                     /* malformed */
    fake_send_action(&F, 1, seq, many, 2000, IQMPC__V1__ACTION_SOURCE__ACTION_SOURCE_PLANNER,
                     IQMPC__V1__FAULT_CODE__FAULT_NONE);             /* 8 KB action: oversized */
    bomb = arena_bomb(junk, sizeof junk);
    REQUIRE(bomb > 0);
    fake_send_raw(&F, junk, bomb);                                   /* arena exhausted */
    fake_send_heartbeat(&F);
    fake_send_action(&F, 2, seq, GOOD, 1, IQMPC__V1__ACTION_SOURCE__ACTION_SOURCE_PLANNER,
                     IQMPC__V1__FAULT_CODE__FAULT_NONE);
    iqmpc_link_receive(&L, MS(2000), &out);
    CHECK(!out.fallback && out.observation_seq == seq && out.values[0] == GOOD[0]);
    iqmpc_link_counters_get(&L, &k);
    CHECK_MSG(k.malformed == 2, "malformed %llu", (unsigned long long)k.malformed);
    CHECK_MSG(k.oversized == 2, "oversized %llu", (unsigned long long)k.oversized);
    CHECK(k.heartbeats == 1);
    CHECK(k.arena_high_water <= IQMPC_LINK_ARENA_BYTES);
    close_pair();
}

/* Beyond MAX_CONTROL_BYTES libzmq drops the message with the connection; the link just
   sees silence, falls back, and carries on once the controller reconnects. */
static void test_message_beyond_zmq_limit(void) {
    static unsigned char huge[70000];
    iqmpc_link_action out;
    uint64_t seq;
    int i, ok = 0;
    REQUIRE(open_pair(IQMPC_LINK_FREE_RUNNING) == 0);
    REQUIRE(connect_via_steps() == 0);
    REQUIRE(publish_and_see(OBS_VALUES, &seq) == 0);
    memset(huge, 0x55, sizeof huge);
    fake_send_raw(&F, huge, sizeof huge);
    iqmpc_link_receive(&L, MS(100), &out);
    CHECK(out.fallback && out.fault == IQMPC_LINK_FAULT_TIMEOUT);
    /* The fake controller's PUSH reconnects by itself; answers flow again. */
    for (i = 0; i < 50 && !ok; i++) {
        Iqmpc__V1__Envelope *e;
        iqmpc_link_publish(&L, OBS_VALUES, NULL);
        e = recv_skip_hello(50);
        if (e != NULL && e->body_case == IQMPC__V1__ENVELOPE__BODY_OBSERVATION)
            fake_send_action(&F, 100 + (uint64_t)i, e->observation->seq, GOOD, 1,
                             IQMPC__V1__ACTION_SOURCE__ACTION_SOURCE_PLANNER,
                             IQMPC__V1__FAULT_CODE__FAULT_NONE);
        if (e != NULL) iqmpc__v1__envelope__free_unpacked(e, NULL);
        iqmpc_link_receive(&L, MS(50), &out);
        ok = !out.fallback;
    }
    CHECK(ok);
    close_pair();
}

static void test_controller_error_loses_session(void) {
    iqmpc_link_action out;
    iqmpc_link_counters k;
    Iqmpc__V1__Envelope *e;
    uint64_t seq;
    REQUIRE(open_pair(IQMPC_LINK_FREE_RUNNING) == 0);
    REQUIRE(connect_via_steps() == 0);
    REQUIRE(publish_and_see(OBS_VALUES, &seq) == 0);
    /* what a restarted controller says to an observation without a handshake */
    fake_send_error(&F, IQMPC__V1__ERROR_CODE__ERROR_UNEXPECTED_MESSAGE,
                    IQMPC__V1__FAULT_CODE__FAULT_NO_HANDSHAKE, 0);
    iqmpc_link_receive(&L, MS(2000), &out);
    CHECK(out.fallback && out.fault == IQMPC_LINK_FAULT_CONTROLLER_ERROR);
    CHECK(!iqmpc_link_connected(&L));
    iqmpc_link_counters_get(&L, &k);
    CHECK(k.session_losses == 1);
    /* the next step says Hello again instead of sending an observation */
    iqmpc_link_publish(&L, OBS_VALUES, NULL);
    e = fake_recv(&F, 1000);
    CHECK(e != NULL && e->body_case == IQMPC__V1__ENVELOPE__BODY_HELLO);
    if (e) iqmpc__v1__envelope__free_unpacked(e, NULL);
    fake_send_ack(&F, 1, IQMPC_LINK_PROTOCOL_VERSION, NULL);
    iqmpc_link_receive(&L, MS(1000), &out);
    CHECK(out.fault == IQMPC_LINK_FAULT_NO_SESSION && iqmpc_link_connected(&L));
    close_pair();
}

static void test_shutdown_unsolicited_heartbeat(void) {
    iqmpc_link_action out;
    iqmpc_link_counters k;
    uint64_t seq;
    float zero[1] = {0.0f};
    REQUIRE(open_pair(IQMPC_LINK_FREE_RUNNING) == 0);
    REQUIRE(connect_via_steps() == 0);
    REQUIRE(publish_and_see(OBS_VALUES, &seq) == 0);
    fake_send_action(&F, 1, 0, zero, 1, IQMPC__V1__ACTION_SOURCE__ACTION_SOURCE_SAFE,
                     IQMPC__V1__FAULT_CODE__FAULT_WATCHDOG);
    fake_send_heartbeat(&F);
    fake_send_action(&F, 2, seq, GOOD, 1, IQMPC__V1__ACTION_SOURCE__ACTION_SOURCE_PLANNER,
                     IQMPC__V1__FAULT_CODE__FAULT_NONE);
    iqmpc_link_receive(&L, MS(1000), &out);
    CHECK(!out.fallback && out.values[0] == GOOD[0]);
    REQUIRE(publish_and_see(OBS_VALUES, &seq) == 0);
    fake_send_shutdown(&F, "SIGTERM");
    iqmpc_link_receive(&L, MS(1000), &out);
    CHECK(out.fallback && out.fault == IQMPC_LINK_FAULT_SHUTDOWN);
    CHECK(!iqmpc_link_connected(&L));
    iqmpc_link_counters_get(&L, &k);
    CHECK(k.unsolicited == 1 && k.heartbeats == 1 && k.session_losses == 1);
    close_pair();
}

static void test_send_failed_without_controller(void) {
    iqmpc_link_action out;
    int i, seen = 0;
    REQUIRE(open_pair(IQMPC_LINK_FREE_RUNNING) == 0);
    REQUIRE(connect_via_steps() == 0);
    fake_close(&F); /* the controller vanishes; the session itself is not told */
    for (i = 0; i < 100 && !seen; i++) {
        uint64_t t0 = iqmpc_link_now_ns();
        iqmpc_link_publish(&L, OBS_VALUES, NULL);
        iqmpc_link_receive(&L, MS(20), &out);
        CHECK(out.fallback);
        if (out.fault == IQMPC_LINK_FAULT_SEND_FAILED) {
            seen = 1;
            CHECK(iqmpc_link_now_ns() - t0 < MS(20)); /* nothing to wait for */
        }
    }
    CHECK(seen);
    iqmpc_link_close(&L);
}

static void test_bad_observation_not_sent(void) {
    iqmpc_link_action out;
    iqmpc_link_counters k;
    float bad[3] = {1.0f, NAN, 0.0f};
    REQUIRE(open_pair(IQMPC_LINK_FREE_RUNNING) == 0);
    REQUIRE(connect_via_steps() == 0);
    CHECK(iqmpc_link_step(&L, bad, NULL, MS(500), &out) == IQMPC_LINK_OK);
    CHECK(out.fallback && out.fault == IQMPC_LINK_FAULT_BAD_OBSERVATION);
    CHECK(recv_skip_hello(50) == NULL);
    CHECK(iqmpc_link_step(&L, NULL, NULL, MS(500), &out) == IQMPC_LINK_ERR_ARG);
    CHECK(out.fallback && out.values[0] == SAFE[0]);
    iqmpc_link_counters_get(&L, &k);
    CHECK(k.observations_sent == 0 && k.fault[IQMPC_LINK_FAULT_BAD_OBSERVATION] == 2);
    close_pair();
}

static void test_receive_without_publish(void) {
    iqmpc_link_action out;
    REQUIRE(open_pair(IQMPC_LINK_FREE_RUNNING) == 0);
    CHECK(iqmpc_link_receive(&L, MS(10), &out) == IQMPC_LINK_ERR_ARG);
    CHECK(out.fallback && out.values[0] == SAFE[0]);
    close_pair();
}

static volatile int flood_stop;

static void *flooder(void *arg) {
    uint64_t seq = 1;
    (void)arg;
    /* Late answers to frame 1, as fast as possible. Once the link stops reading, the queue
     * fills and a send times out (fake_controller's send timeout); the loop then sees
     * flood_stop, so the join below cannot hang. */
    while (!flood_stop) {
        fake_send_action(&F, seq++, 1, GOOD, 1, IQMPC__V1__ACTION_SOURCE__ACTION_SOURCE_PLANNER,
                         IQMPC__V1__FAULT_CODE__FAULT_NONE);
    }
    return NULL;
}

static void test_wait_bounded_under_flood(void) {
    pthread_t t;
    iqmpc_link_action out;
    iqmpc_link_counters k;
    uint64_t seq, t0, dt;
    REQUIRE(open_pair(IQMPC_LINK_FREE_RUNNING) == 0);
    REQUIRE(connect_via_steps() == 0);
    REQUIRE(publish_and_see(OBS_VALUES, &seq) == 0);
    REQUIRE(publish_and_see(OBS_VALUES, &seq) == 0); /* frame 1 is now given up */
    flood_stop = 0;
    pthread_create(&t, NULL, flooder, NULL);
    usleep(20000);
    t0 = iqmpc_link_now_ns();
    iqmpc_link_receive(&L, MS(50), &out);
    dt = iqmpc_link_now_ns() - t0;
    flood_stop = 1;
    pthread_join(t, NULL);
    CHECK(out.fallback && out.fault == IQMPC_LINK_FAULT_TIMEOUT);
    CHECK_MSG(dt >= MS(50) && dt < MS(50) + SLACK_NS, "waited %llu ns", (unsigned long long)dt);
    iqmpc_link_counters_get(&L, &k);
    CHECK_MSG(k.late + k.duplicate > 100, "discarded %llu", (unsigned long long)(k.late + k.duplicate));
    close_pair();
}

static void test_robot_shutdown(void) {
    Iqmpc__V1__Envelope *e;
    REQUIRE(open_pair(IQMPC_LINK_FREE_RUNNING) == 0);
    REQUIRE(connect_via_steps() == 0);
    CHECK(iqmpc_link_shutdown(&L, "end of test") == IQMPC_LINK_OK);
    CHECK(!iqmpc_link_connected(&L));
    e = recv_skip_hello(1000);
    CHECK(e != NULL && e->body_case == IQMPC__V1__ENVELOPE__BODY_SHUTDOWN &&
          strcmp(e->shutdown->reason, "end of test") == 0);
    if (e) iqmpc__v1__envelope__free_unpacked(e, NULL);
    iqmpc_link_publish(&L, OBS_VALUES, NULL); /* a new session starts with Hello */
    e = fake_recv(&F, 1000);
    CHECK(e != NULL && e->body_case == IQMPC__V1__ENVELOPE__BODY_HELLO);
    if (e) iqmpc__v1__envelope__free_unpacked(e, NULL);
    close_pair();
}

static void test_huge_timeout_saturates(void) {
    iqmpc_link_action out;
    uint64_t seq;
    REQUIRE(open_pair(IQMPC_LINK_FREE_RUNNING) == 0);
    REQUIRE(connect_via_steps() == 0);
    REQUIRE(publish_and_see(OBS_VALUES, &seq) == 0);
    fake_send_action(&F, 1, seq, GOOD, 1, IQMPC__V1__ACTION_SOURCE__ACTION_SOURCE_PLANNER,
                     IQMPC__V1__FAULT_CODE__FAULT_NONE);
    /* now + UINT64_MAX must not wrap into "already expired" */
    iqmpc_link_receive(&L, UINT64_MAX, &out);
    CHECK(!out.fallback && out.observation_seq == seq);
    close_pair();
}

static void test_hello_repeated_while_waiting(void) {
    iqmpc_link_action out;
    iqmpc_link_counters k;
    REQUIRE(open_pair(IQMPC_LINK_FREE_RUNNING) == 0);
    iqmpc_link_publish(&L, OBS_VALUES, NULL); /* may find no peer yet */
    iqmpc_link_receive(&L, MS(200), &out);    /* keeps saying Hello every 20 ms */
    CHECK(out.fallback && out.fault == IQMPC_LINK_FAULT_NO_SESSION);
    iqmpc_link_counters_get(&L, &k);
    CHECK_MSG(k.hellos_sent >= 3, "hellos %llu", (unsigned long long)k.hellos_sent);
    CHECK(fake_drain(&F, 50) == (int)k.hellos_sent);
    close_pair();
}

/* Zero-copy sends reuse ring slots: every frame a slowish controller reads while the
   robot publishes as fast as it can must arrive intact (its values encode its seq). */
static uint64_t reader_got, reader_bad;

static void *slow_reader(void *arg) {
    Iqmpc__V1__Envelope *e;
    (void)arg;
    while ((e = fake_recv(&F, 300)) != NULL) {
        if (e->body_case == IQMPC__V1__ENVELOPE__BODY_OBSERVATION) {
            Iqmpc__V1__Observation *o = e->observation;
            reader_got++;
            if (o->n_values != 3 || o->values[0] != (float)o->seq ||
                o->values[1] != -(float)o->seq || o->values[2] != 0.5f * (float)o->seq)
                reader_bad++;
        }
        iqmpc__v1__envelope__free_unpacked(e, NULL);
        usleep(50);
    }
    return NULL;
}

static void test_queued_frames_intact(void) {
    iqmpc_link_counters k0, k;
    pthread_t t;
    int i;
    REQUIRE(open_pair(IQMPC_LINK_FREE_RUNNING) == 0);
    REQUIRE(connect_via_steps() == 0);
    iqmpc_link_counters_get(&L, &k0);
    reader_got = reader_bad = 0;
    pthread_create(&t, NULL, slow_reader, NULL);
    for (i = 0; i < 3000; i++) {
        float v[3];
        v[0] = (float)(L.last_seq + 1);
        v[1] = -v[0];
        v[2] = 0.5f * v[0];
        iqmpc_link_publish(&L, v, NULL); /* no receive: the queue fills, some are refused */
        if (i % 4 == 0) usleep(20);
    }
    pthread_join(t, NULL);
    iqmpc_link_counters_get(&L, &k);
    CHECK_MSG(reader_got == k.observations_sent && reader_got > 3 * IQMPC_LINK_TX_SLOTS,
              "read %llu of %llu sent", (unsigned long long)reader_got,
              (unsigned long long)k.observations_sent);
    CHECK_MSG(reader_bad == 0, "%llu corrupted frames", (unsigned long long)reader_bad);
    CHECK(k.send_failures - k0.send_failures + k.observations_sent == 3000);
    printf("     %llu of 3000 frames queued and read intact (%u-slot ring)\n",
           (unsigned long long)reader_got, (unsigned)IQMPC_LINK_TX_SLOTS);
    close_pair();
}

/* ---------------------------------------------------------------- lockstep */

static void test_lockstep(void) {
    int i;
    iqmpc_link_action out;
    iqmpc_link_counters k;
    Iqmpc__V1__Envelope *e;
    uint64_t seq;
    REQUIRE(open_pair(IQMPC_LINK_LOCKSTEP) == 0);
    REQUIRE(connect_via_steps() == 0);

    /* a normal step */
    iqmpc_link_publish(&L, OBS_VALUES, NULL);
    e = fake_recv(&F, 1000);
    REQUIRE(e != NULL && e->body_case == IQMPC__V1__ENVELOPE__BODY_OBSERVATION);
    seq = e->observation->seq;
    iqmpc__v1__envelope__free_unpacked(e, NULL);
    fake_send_action(&F, 1, seq, GOOD, 1, IQMPC__V1__ACTION_SOURCE__ACTION_SOURCE_PLANNER,
                     IQMPC__V1__FAULT_CODE__FAULT_NONE);
    iqmpc_link_receive(&L, MS(1000), &out);
    CHECK(!out.fallback && out.values[0] == GOOD[0] && out.observation_seq == seq);

    /* reset instead of an action */
    iqmpc_link_publish(&L, OBS_VALUES, NULL);
    e = fake_recv(&F, 1000);
    REQUIRE(e != NULL);
    iqmpc__v1__envelope__free_unpacked(e, NULL);
    fake_send_reset(&F, 77);
    iqmpc_link_receive(&L, MS(1000), &out);
    CHECK(out.fallback && out.fault == IQMPC_LINK_FAULT_RESET && out.reset_seed == 77);

    /* a lost reply: timeout; the next request makes REQ_RELAXED drop the connection (to
       discard the late reply), so the link says Hello again before the next observation */
    iqmpc_link_publish(&L, OBS_VALUES, NULL);
    e = fake_recv(&F, 1000);
    REQUIRE(e != NULL);
    iqmpc__v1__envelope__free_unpacked(e, NULL);
    iqmpc_link_receive(&L, MS(30), &out);
    CHECK(out.fallback && out.fault == IQMPC_LINK_FAULT_TIMEOUT);
    CHECK(!iqmpc_link_connected(&L));
    fake_send_action(&F, 2, seq, GOOD, 1, IQMPC__V1__ACTION_SOURCE__ACTION_SOURCE_PLANNER,
                     IQMPC__V1__FAULT_CODE__FAULT_NONE); /* the late reply (REP must answer) */
    for (i = 0; i < 100 && !iqmpc_link_connected(&L); i++) {
        iqmpc_link_publish(&L, OBS_VALUES, NULL);
        e = fake_recv(&F, 30);
        if (e != NULL) {
            CHECK(e->body_case == IQMPC__V1__ENVELOPE__BODY_HELLO);
            fake_send_ack(&F, 1, IQMPC_LINK_PROTOCOL_VERSION, NULL);
            iqmpc__v1__envelope__free_unpacked(e, NULL);
        }
        iqmpc_link_receive(&L, MS(100), &out);
    }
    REQUIRE(iqmpc_link_connected(&L));
    iqmpc_link_publish(&L, OBS_VALUES, NULL);
    e = fake_recv(&F, 1000);
    REQUIRE(e != NULL && e->body_case == IQMPC__V1__ENVELOPE__BODY_OBSERVATION);
    seq = e->observation->seq;
    iqmpc__v1__envelope__free_unpacked(e, NULL);
    fake_send_action(&F, 3, seq, GOOD, 1, IQMPC__V1__ACTION_SOURCE__ACTION_SOURCE_PLANNER,
                     IQMPC__V1__FAULT_CODE__FAULT_NONE);
    iqmpc_link_receive(&L, MS(1000), &out);
    CHECK(!out.fallback && out.observation_seq == seq);

    /* shutdown: the link answers Heartbeat and drops the session */
    iqmpc_link_publish(&L, OBS_VALUES, NULL);
    e = fake_recv(&F, 1000);
    REQUIRE(e != NULL);
    iqmpc__v1__envelope__free_unpacked(e, NULL);
    fake_send_shutdown(&F, "done");
    iqmpc_link_receive(&L, MS(1000), &out);
    CHECK(out.fallback && out.fault == IQMPC_LINK_FAULT_SHUTDOWN);
    CHECK(!iqmpc_link_connected(&L));
    e = fake_recv(&F, 1000);
    CHECK(e != NULL && e->body_case == IQMPC__V1__ENVELOPE__BODY_HEARTBEAT);
    if (e) iqmpc__v1__envelope__free_unpacked(e, NULL);
    iqmpc_link_counters_get(&L, &k);
    CHECK(k.actions_applied == 2);
    close_pair();
}

/* ---------------------------------------------------------------- CURVE */

static int refusal_calls;
static char refused_key[41];

static void on_refusal(const char *key, const char *address, void *user) {
    (void)address;
    (void)user;
    __atomic_add_fetch(&refusal_calls, 1, __ATOMIC_RELAXED);
    snprintf(refused_key, sizeof refused_key, "%s", key);
}

/* Hello reaches only the authorised controller; an unknown key gets no session and the
   refusal is counted and reported on the robot. */
static void test_curve_admits_only_authorised_keys(void) {
    char robot_pub[41], robot_sec[41], ctl_pub[41], ctl_sec[41], rogue_pub[41], rogue_sec[41];
    const char *authorised[1];
    iqmpc_link_config c = base_config(IQMPC_LINK_FREE_RUNNING);
    iqmpc_link_counters k;
    iqmpc_link_action out;
    Iqmpc__V1__Envelope *e = NULL;
    int i;
    REQUIRE(zmq_curve_keypair(robot_pub, robot_sec) == 0 && zmq_curve_keypair(ctl_pub, ctl_sec) == 0 &&
            zmq_curve_keypair(rogue_pub, rogue_sec) == 0);
    authorised[0] = ctl_pub;
    c.curve_secret_key = robot_sec;
    c.curve_authorised_keys = authorised;
    c.n_curve_authorised_keys = 1;
    c.on_refusal = on_refusal;
    refusal_calls = 0;
    REQUIRE(iqmpc_link_init(&L, &c) == IQMPC_LINK_OK);
    iqmpc_link_endpoint(&L, 0, obs_ep, sizeof obs_ep);
    iqmpc_link_endpoint(&L, 1, act_ep, sizeof act_ep);

    REQUIRE(fake_open_free_curve(&F, obs_ep, act_ep, robot_pub, rogue_pub, rogue_sec) == 0);
    for (i = 0; i < 15 && e == NULL; i++) {
        iqmpc_link_publish(&L, OBS_VALUES, NULL);
        e = fake_recv(&F, 20);
        iqmpc_link_receive(&L, 0, &out);
    }
    CHECK_MSG(e == NULL, "the unauthorised controller received a frame");
    if (e) iqmpc__v1__envelope__free_unpacked(e, NULL);
    e = NULL;
    iqmpc_link_counters_get(&L, &k);
    CHECK(k.auth_refusals >= 1);
    CHECK(__atomic_load_n(&refusal_calls, __ATOMIC_RELAXED) >= 1);
    CHECK(strcmp(refused_key, rogue_pub) == 0);
    fake_close(&F);

    REQUIRE(fake_open_free_curve(&F, obs_ep, act_ep, robot_pub, ctl_pub, ctl_sec) == 0);
    CHECK(connect_via_steps() == 0);
    fake_close(&F);
    iqmpc_link_close(&L);
}

static void test_network_endpoint_needs_curve(void) {
    iqmpc_link_config c = base_config(IQMPC_LINK_FREE_RUNNING);
    c.obs_endpoint = "tcp://0.0.0.0:*";
    CHECK(iqmpc_link_init(&L, &c) == IQMPC_LINK_ERR_CONFIG);
    CHECK(strstr(iqmpc_link_last_error(&L), "without CURVE") != NULL);
    c.allow_insecure = 1;
    REQUIRE(iqmpc_link_init(&L, &c) == IQMPC_LINK_OK);
    CHECK(strstr(iqmpc_link_warning(&L), "without CURVE") != NULL);
    iqmpc_link_close(&L);
    c = base_config(IQMPC_LINK_FREE_RUNNING);
    CHECK(iqmpc_link_init(&L, &c) == IQMPC_LINK_OK && iqmpc_link_warning(&L)[0] == '\0');
    iqmpc_link_close(&L);
    c.curve_secret_key = "not-a-key";
    CHECK(iqmpc_link_init(&L, &c) == IQMPC_LINK_ERR_CONFIG);
}

/* ---------------------------------------------------------------- runner */

int harness_failures;

static const harness_test TESTS[] = {
    {"config_errors", test_config_errors},
    {"bind_error", test_bind_error},
    {"hello_carries_spec", test_hello_carries_spec},
    {"handshake_via_steps", test_handshake_via_steps},
    {"handshake_timeout", test_handshake_timeout},
    {"handshake_blocking", test_handshake_blocking},
    {"handshake_refused", test_handshake_refused},
    {"protocol_version_mismatch", test_protocol_version_mismatch},
    {"bare_error_refusal", test_bare_error_refusal},
    {"steps_match", test_steps_match},
    {"controller_safe_action_applied", test_controller_safe_action_applied},
    {"timeout_then_late", test_timeout_then_late},
    {"duplicate_and_out_of_order", test_duplicate_and_out_of_order},
    {"bad_actions_fall_back", test_bad_actions_fall_back},
    {"malformed_and_oversized", test_malformed_and_oversized},
    {"message_beyond_zmq_limit", test_message_beyond_zmq_limit},
    {"controller_error_loses_session", test_controller_error_loses_session},
    {"shutdown_unsolicited_heartbeat", test_shutdown_unsolicited_heartbeat},
    {"send_failed_without_controller", test_send_failed_without_controller},
    {"bad_observation_not_sent", test_bad_observation_not_sent},
    {"receive_without_publish", test_receive_without_publish},
    {"wait_bounded_under_flood", test_wait_bounded_under_flood},
    {"robot_shutdown", test_robot_shutdown},
    {"huge_timeout_saturates", test_huge_timeout_saturates},
    {"hello_repeated_while_waiting", test_hello_repeated_while_waiting},
    {"queued_frames_intact", test_queued_frames_intact},
    {"lockstep", test_lockstep},
    {"curve_admits_only_authorised_keys", test_curve_admits_only_authorised_keys},
    {"network_endpoint_needs_curve", test_network_endpoint_needs_curve},
};

int main(int argc, char **argv) {
    size_t i, n_alloc = 0;
    int passed = 0, failed = 0;
    const harness_test *alloc_tests = alloc_test_list(&n_alloc);
    signal(SIGPIPE, SIG_IGN);
    for (i = 0; i < sizeof TESTS / sizeof TESTS[0] + n_alloc; i++) {
        const harness_test *t = i < sizeof TESTS / sizeof TESTS[0]
                                    ? &TESTS[i]
                                    : &alloc_tests[i - sizeof TESTS / sizeof TESTS[0]];
        if (argc > 1 && strstr(t->name, argv[1]) == NULL) continue;
        harness_failures = 0;
        t->fn();
        if (harness_failures == 0) {
            passed++;
            printf("ok   %s\n", t->name);
        } else {
            failed++;
            printf("FAIL %s (%d checks)\n", t->name, harness_failures);
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
