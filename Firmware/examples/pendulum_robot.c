/*
 * Example firmware: a torque-driven pendulum (the plant of `pendulum-swingup`) integrated
 * in C at a fixed control period, controlled through iqmpc_link by `iqmpc-runtime run`.
 *
 * Each period: sample [cos θ, sin θ, θdot], publish it, wait for the matching action at
 * most --timeout-ms, apply it (or the safe action) for the rest of the period. At the end
 * it prints round-trip statistics, fallback counts and "lost frames" (frames that did not
 * get their own action from the controller); --max-lost turns that into the exit status.
 *
 *   pendulum_robot --obs tcp://127.0.0.1:5701 --act tcp://127.0.0.1:5702 --steps 1000
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "iqmpc_link.h"

#ifdef FW_COUNT_ALLOCS
#include "alloc_count.h"
#endif

/* Plant: 1 kg bob on a 0.5 m massless rod (the MJCF model of Sources/IQPlants). */
#define GRAVITY 9.81
#define MASS 1.0
#define LENGTH 0.5
#define DAMPING 0.01
#define INERTIA (MASS * LENGTH * LENGTH + 0.4 * MASS * 0.04 * 0.04)
#define MAX_TORQUE 2.0f
#define SUBSTEP_S 0.001
#define MAX_STEPS 1000000

typedef struct {
    double theta; /* 0 = upright */
    double omega;
} plant_state;

static void deriv(const plant_state *s, double torque, plant_state *d) {
    d->theta = s->omega;
    d->omega = (MASS * GRAVITY * LENGTH * sin(s->theta) - DAMPING * s->omega + torque) / INERTIA;
}

/* RK4 over `seconds` in substeps of at most SUBSTEP_S with a constant torque. */
static void integrate(plant_state *s, double torque, double seconds) {
    while (seconds > 1e-12) {
        double h = seconds < SUBSTEP_S ? seconds : SUBSTEP_S;
        plant_state k1, k2, k3, k4, t;
        deriv(s, torque, &k1);
        t.theta = s->theta + 0.5 * h * k1.theta;
        t.omega = s->omega + 0.5 * h * k1.omega;
        deriv(&t, torque, &k2);
        t.theta = s->theta + 0.5 * h * k2.theta;
        t.omega = s->omega + 0.5 * h * k2.omega;
        deriv(&t, torque, &k3);
        t.theta = s->theta + h * k3.theta;
        t.omega = s->omega + h * k3.omega;
        deriv(&t, torque, &k4);
        s->theta += h / 6.0 * (k1.theta + 2 * k2.theta + 2 * k3.theta + k4.theta);
        s->omega += h / 6.0 * (k1.omega + 2 * k2.omega + 2 * k3.omega + k4.omega);
        seconds -= h;
    }
}

typedef struct {
    const char *obs_ep, *act_ep, *robot_id, *action_name, *action_unit;
    iqmpc_link_mode mode;
    long steps, print_every, max_lost, episode_length, warmup;
    double period_ms, timeout_ms, handshake_s;
    unsigned seed;
} options;

#ifdef FW_RTSAN
/* `make rtsan`: the per-period link call is a real-time context for clang's
 * RealtimeSanitizer; every blocking or allocating call made inside it is reported. */
static int rt_step(iqmpc_link *link, const float *obs, const iqmpc_link_frame_flags *flags,
                   uint64_t timeout_ns, iqmpc_link_action *out) __attribute__((nonblocking));
static int rt_step(iqmpc_link *link, const float *obs, const iqmpc_link_frame_flags *flags,
                   uint64_t timeout_ns, iqmpc_link_action *out) {
    return iqmpc_link_step(link, obs, flags, timeout_ns, out);
}
#define iqmpc_link_step rt_step
#endif

static void usage(void) {
    fprintf(stderr,
            "usage: pendulum_robot [--obs EP] [--act EP] [--mode free-running|lockstep]\n"
            "         [--steps N] [--period-ms P] [--timeout-ms T] [--handshake-s S]\n"
            "         [--episode-length N] [--robot-id ID] [--action-name NAME]\n"
            "         [--action-unit UNIT] [--print-every K] [--max-lost N] [--seed S]\n"
            "         [--warmup-steps W]\n");
}

static int parse(int argc, char **argv, options *o) {
    int i;
    o->obs_ep = "tcp://127.0.0.1:5701";
    o->act_ep = "tcp://127.0.0.1:5702";
    o->robot_id = "pendulum-swingup";
    o->action_name = "motor.torque";
    o->action_unit = "N*m";
    o->mode = IQMPC_LINK_FREE_RUNNING;
    o->steps = 1000;
    o->print_every = 100;
    o->max_lost = -1;
    o->warmup = 500;
    o->episode_length = 500;
    o->period_ms = 20.0;
    o->timeout_ms = -1.0;
    o->handshake_s = 30.0;
    o->seed = 1;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage();
            exit(0);
        }
        if (v == NULL) {
            fprintf(stderr, "pendulum_robot: %s needs a value\n", a);
            return -1;
        }
        i++;
        if (strcmp(a, "--obs") == 0) o->obs_ep = v;
        else if (strcmp(a, "--act") == 0) o->act_ep = v;
        else if (strcmp(a, "--robot-id") == 0) o->robot_id = v;
        else if (strcmp(a, "--action-name") == 0) o->action_name = v;
        else if (strcmp(a, "--action-unit") == 0) o->action_unit = v;
        else if (strcmp(a, "--steps") == 0) o->steps = strtol(v, NULL, 10);
        else if (strcmp(a, "--print-every") == 0) o->print_every = strtol(v, NULL, 10);
        else if (strcmp(a, "--max-lost") == 0) o->max_lost = strtol(v, NULL, 10);
        else if (strcmp(a, "--warmup-steps") == 0) o->warmup = strtol(v, NULL, 10);
        else if (strcmp(a, "--episode-length") == 0) o->episode_length = strtol(v, NULL, 10);
        else if (strcmp(a, "--period-ms") == 0) o->period_ms = strtod(v, NULL);
        else if (strcmp(a, "--timeout-ms") == 0) o->timeout_ms = strtod(v, NULL);
        else if (strcmp(a, "--handshake-s") == 0) o->handshake_s = strtod(v, NULL);
        else if (strcmp(a, "--seed") == 0) o->seed = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--mode") == 0) {
            if (strcmp(v, "free-running") == 0) o->mode = IQMPC_LINK_FREE_RUNNING;
            else if (strcmp(v, "lockstep") == 0) o->mode = IQMPC_LINK_LOCKSTEP;
            else {
                fprintf(stderr, "pendulum_robot: --mode must be free-running or lockstep\n");
                return -1;
            }
        } else {
            fprintf(stderr, "pendulum_robot: unknown option %s\n", a);
            usage();
            return -1;
        }
    }
    if (o->steps < 1 || o->steps > MAX_STEPS || o->period_ms <= 0 || o->episode_length < 0) {
        fprintf(stderr, "pendulum_robot: --steps must be 1..%d, --period-ms > 0\n", MAX_STEPS);
        return -1;
    }
    if (o->timeout_ms < 0) o->timeout_ms = 0.8 * o->period_ms;
    if (o->timeout_ms > o->period_ms)
        fprintf(stderr, "pendulum_robot: note: --timeout-ms %.1f exceeds the period: a slow "
                        "answer delays the loop (counted as overruns) instead of the safe action\n",
                o->timeout_ms);
    return 0;
}

/* All state lives in static storage: nothing is allocated once the loop runs. */
static iqmpc_link link_storage;
static uint32_t rtt_us[MAX_STEPS];
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static uint32_t pct(const uint32_t *v, long n, double p) {
    long i = (long)(p * (double)(n - 1) + 0.5);
    return n > 0 ? v[i] : 0;
}

static void timespec_add_ns(struct timespec *t, uint64_t ns) {
    uint64_t total = (uint64_t)t->tv_nsec + ns;
    t->tv_sec += (time_t)(total / 1000000000u);
    t->tv_nsec = (long)(total % 1000000000u);
}

static double uniform(unsigned *state, double lo, double hi) {
    *state = *state * 1103515245u + 12345u;
    return lo + (hi - lo) * (double)((*state >> 8) & 0xffffff) / 16777216.0;
}

int main(int argc, char **argv) {
    options o;
    iqmpc_link *link = &link_storage;
    iqmpc_link_config cfg;
    iqmpc_link_channel obs_ch[3], act_ch[1];
    float safe[1] = {0.0f};
    iqmpc_link_counters k;
    plant_state s;
    struct timespec next;
    uint64_t period_ns, timeout_ns, overruns = 0, slow_answers = 0;
    long step, n_rtt = 0, episode_step = 0;
    uint32_t episode = 0;
    float torque = 0.0f;
    double max_up = -1.0;
    int rc, f;
#ifdef FW_COUNT_ALLOCS
    uint64_t allocs_at_start = 0, allocs_at_warm = 0, allocs_after;
    uint64_t mine_at_warm = 0, mine_after;
#endif

    if (parse(argc, argv, &o) != 0) return 2;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    period_ns = (uint64_t)(o.period_ms * 1e6);
    timeout_ns = (uint64_t)(o.timeout_ms * 1e6);

    obs_ch[0].name = "pole.angle.cos";
    obs_ch[0].unit = "1";
    obs_ch[0].low = -1.0f;
    obs_ch[0].high = 1.0f;
    obs_ch[1].name = "pole.angle.sin";
    obs_ch[1].unit = "1";
    obs_ch[1].low = -1.0f;
    obs_ch[1].high = 1.0f;
    obs_ch[2].name = "pole.angular_velocity";
    obs_ch[2].unit = "rad/s";
    obs_ch[2].low = -20.0f;
    obs_ch[2].high = 20.0f;
    act_ch[0].name = o.action_name;
    act_ch[0].unit = o.action_unit;
    act_ch[0].low = -MAX_TORQUE;
    act_ch[0].high = MAX_TORQUE;

    memset(&cfg, 0, sizeof cfg);
    cfg.mode = o.mode;
    cfg.obs_endpoint = o.obs_ep;
    cfg.act_endpoint = o.act_ep;
    cfg.robot_id = o.robot_id;
    cfg.obs_dim = 3;
    cfg.act_dim = 1;
    cfg.observations = obs_ch;
    cfg.actions = act_ch;
    cfg.control_period_ns = period_ns;
    cfg.episode_length = (uint32_t)o.episode_length;
    cfg.safe_action = safe;
    cfg.software = "iqmpc pendulum_robot example";

    rc = iqmpc_link_init(link, &cfg);
    if (rc != IQMPC_LINK_OK) {
        fprintf(stderr, "pendulum_robot: %s\n", iqmpc_link_last_error(link));
        return 2;
    }
    printf("pendulum_robot: bound %s and %s (%s), period %.1f ms, timeout %.1f ms\n", o.obs_ep,
           o.mode == IQMPC_LINK_FREE_RUNNING ? o.act_ep : "-",
           o.mode == IQMPC_LINK_FREE_RUNNING ? "free-running" : "lockstep", o.period_ms,
           o.timeout_ms);
    fflush(stdout);
    rc = iqmpc_link_handshake(link, (uint64_t)(o.handshake_s * 1e9));
    if (rc != IQMPC_LINK_OK) {
        fprintf(stderr, "pendulum_robot: handshake failed: %s\n", iqmpc_link_last_error(link));
        iqmpc_link_close(link);
        return 3;
    }
    printf("pendulum_robot: handshake accepted\n");
    fflush(stdout);

    s.theta = M_PI + uniform(&o.seed, -0.2, 0.2);
    s.omega = uniform(&o.seed, -0.2, 0.2);
    clock_gettime(CLOCK_MONOTONIC, &next);
#ifdef FW_COUNT_ALLOCS
    allocs_at_start = fw_alloc_count();
#endif
    for (step = 0; step < o.steps && !stop_requested; step++) {
        float obs[3];
#ifdef FW_COUNT_ALLOCS
        if (step == o.warmup) {
            allocs_at_warm = fw_alloc_count();
            mine_at_warm = fw_alloc_count_this_thread();
        }
#endif
        iqmpc_link_action act;
        iqmpc_link_frame_flags fl;
        uint64_t t_sample, waited;
        double delay_s;

        obs[0] = (float)cos(s.theta);
        obs[1] = (float)sin(s.theta);
        obs[2] = (float)s.omega;
        fl.episode_start = episode_step == 0;
        fl.terminal = o.episode_length > 0 && episode_step == o.episode_length - 1;
        fl.episode = episode;
        t_sample = iqmpc_link_now_ns();
        iqmpc_link_step(link, obs, &fl, timeout_ns, &act);
        waited = iqmpc_link_now_ns() - t_sample;
        if (!act.fallback) {
            rtt_us[n_rtt++] = (uint32_t)(act.round_trip_ns / 1000u);
            if (act.round_trip_ns > period_ns) slow_answers++;
        }
        if (act.fault == IQMPC_LINK_FAULT_RESET) episode_step = o.episode_length; /* lockstep */

        /* the old torque acts while we wait, the new one for the rest of the period */
        delay_s = (double)(waited < period_ns ? waited : period_ns) * 1e-9;
        integrate(&s, torque, delay_s);
        torque = act.values[0];
        integrate(&s, torque, (double)period_ns * 1e-9 - delay_s);
        if (cos(s.theta) > max_up) max_up = cos(s.theta);

        if (o.print_every > 0 && (step + 1) % o.print_every == 0) {
            iqmpc_link_counters_get(link, &k);
            printf("step %6ld  theta %+7.3f  omega %+7.3f  torque %+6.3f  rtt %6.1f us  "
                   "src %d  fallbacks %llu\n",
                   step + 1, s.theta, s.omega, (double)torque,
                   act.fallback ? 0.0 : (double)act.round_trip_ns / 1e3, act.controller_source,
                   (unsigned long long)k.fallbacks);
            fflush(stdout);
        }
        if (++episode_step >= o.episode_length && o.episode_length > 0) {
            episode_step = 0;
            episode++;
            s.theta = M_PI + uniform(&o.seed, -0.2, 0.2);
            s.omega = uniform(&o.seed, -0.2, 0.2);
            torque = 0.0f;
        }

        timespec_add_ns(&next, period_ns);
        {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (now.tv_sec > next.tv_sec || (now.tv_sec == next.tv_sec && now.tv_nsec > next.tv_nsec))
                overruns++; /* the step took longer than a period: run late, do not catch up */
        }
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR &&
               !stop_requested) {
        }
    }
#ifdef FW_COUNT_ALLOCS
    allocs_after = fw_alloc_count();
    mine_after = fw_alloc_count_this_thread();
#endif
    iqmpc_link_counters_get(link, &k);
    iqmpc_link_shutdown(link, stop_requested ? "pendulum_robot: signal" : "pendulum_robot: done");
    {   /* let the I/O thread flush Shutdown before close drops it (linger 0) */
        struct timespec ms50 = {0, 50000000};
        nanosleep(&ms50, NULL);
    }
    iqmpc_link_close(link);

    qsort(rtt_us, (size_t)n_rtt, sizeof rtt_us[0], cmp_u32);
    printf("\nsummary: %ld steps, %llu actions applied, %llu fallbacks, %llu period overruns\n",
           step, (unsigned long long)k.actions_applied, (unsigned long long)k.fallbacks,
           (unsigned long long)overruns);
    printf("round trip (us): min %u  p50 %u  p90 %u  p99 %u  max %u  (n=%ld); "
           "%llu answers took longer than the period\n",
           n_rtt ? rtt_us[0] : 0, pct(rtt_us, n_rtt, 0.5), pct(rtt_us, n_rtt, 0.9),
           pct(rtt_us, n_rtt, 0.99), n_rtt ? rtt_us[n_rtt - 1] : 0, n_rtt,
           (unsigned long long)slow_answers);
    printf("fallbacks by reason:");
    for (f = 1; f < IQMPC_LINK_FAULT_COUNT; f++)
        if (k.fault[f]) printf(" %s=%llu", iqmpc_link_fault_name((iqmpc_link_fault)f),
                               (unsigned long long)k.fault[f]);
    printf("%s\n", k.fallbacks ? "" : " none");
    printf("discarded: late=%llu duplicate=%llu out_of_order=%llu malformed=%llu oversized=%llu "
           "unexpected=%llu; unsolicited=%llu session_losses=%llu\n",
           (unsigned long long)k.late, (unsigned long long)k.duplicate,
           (unsigned long long)k.out_of_order, (unsigned long long)k.malformed,
           (unsigned long long)k.oversized, (unsigned long long)k.unexpected,
           (unsigned long long)k.unsolicited, (unsigned long long)k.session_losses);
    printf("best uprightness cos(theta) = %.3f\n", max_up);
#ifdef FW_COUNT_ALLOCS
    /* libzmq's queues allocate their second chunk once (at message 256 of each pipe,
       command 16 of each mailbox) and then recycle: count the warm-up apart. */
    printf("allocations after init: %llu in the first %ld steps (libzmq queue warm-up)\n",
           (unsigned long long)((step > o.warmup ? allocs_at_warm : allocs_after) - allocs_at_start),
           step < o.warmup ? step : o.warmup);
    /* Process-wide, then the control thread alone: libzmq's I/O thread may take a fresh
       read buffer when a late action is still queued as the next one arrives. */
    if (step > o.warmup)
        printf("allocations after warm-up: %llu in %ld steps (%llu on the control thread)\n",
               (unsigned long long)(allocs_after - allocs_at_warm), step - o.warmup,
               (unsigned long long)(mine_after - mine_at_warm));
#endif
    printf("lost frames: %ld\n", step - (long)k.actions_applied);
    if (o.max_lost >= 0 && step - (long)k.actions_applied > o.max_lost) return 1;
    return 0;
}
