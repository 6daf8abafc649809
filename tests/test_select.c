/*
 * test_select.c - Go's select over gort channels: a uniform choice among
 * ready cases, the default case only when nothing is ready, nil channels
 * never chosen, a woken select leaving no waiter on its other channels,
 * deadlines, duplicate channels, send and receive cases together, close
 * waking a blocked select, argument checking, select as a preemption
 * point, lock ordering between selects that name the same channels in
 * opposite orders, and a many-producer many-consumer stress test that must
 * conserve every value.
 *
 * Blocked selects are recognised the way test_chan.c recognises blocked
 * channel ops: a goroutine dump shows the goroutine "[select]", and by then
 * it is queued on every channel of the select.
 *
 * Every test body runs on the main goroutine; see testutil.h for the rules
 * the tests follow.  Each test runs between gt_save_knobs and gt_restore_knobs,
 * which put GOMAXPROCS back even when the test fails.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>

#include "testutil.h"

/* How long a waiter may take to show up parked, or a test to finish. */
#define DONE_TIMEOUT gt_slow(10 * GORT_S)
#define ELEM_POISON ((int64_t)0x5a5a5a5a5a5a5a5aLL)


/* ---------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------- */


/* A goroutine on the other side of a channel: one send of value, or one
 * receive into got. */
static struct {
    gort_chan *c;
    int64_t value;
    atomic_ullong goid;
    atomic_llong got;
    atomic_int done;
} peer;

static void peer_reset(gort_chan *c, int64_t value)
{
    peer.c = c;
    peer.value = value;
    atomic_store(&peer.goid, 0);
    atomic_store(&peer.got, -1);
    atomic_store(&peer.done, 0);
}

static void peer_sender(void *arg)
{
    atomic_store(&peer.goid, gort_goid());
    gort_chan_send(peer.c, &peer.value);
    atomic_store(&peer.done, 1);
}

static void peer_receiver(void *arg)
{
    atomic_store(&peer.goid, gort_goid());
    int64_t v = -1;
    gort_chan_recv(peer.c, &v);
    atomic_store(&peer.got, v);
    atomic_store(&peer.done, 1);
}

/* Sends after 20 ms, to wake a waiter with a distant deadline. */
static void peer_late_sender(void *arg)
{
    gort_sleep(20 * GORT_MS);
    gort_chan_send(peer.c, &peer.value);
    atomic_store(&peer.done, 1);
}

/* ---------------------------------------------------------------------
 * Choosing a case
 * ------------------------------------------------------------------- */

/* Chi-square statistic of counts against a uniform spread over k bins. */
static double chi_square(const long *counts, int k)
{
    long n = 0;
    for (int i = 0; i < k; i++)
        n += counts[i];
    double e = (double)n / k, chi = 0;
    for (int i = 0; i < k; i++)
        chi += ((double)counts[i] - e) * ((double)counts[i] - e) / e;
    return chi;
}

static void test_select_chooses_uniformly_among_ready_cases(void **state)
{
    gort_chan *a = gt_chan_make(sizeof(int64_t), 1);
    gort_chan *b = gt_chan_make(sizeof(int64_t), 1);
    int64_t va = 1, vb = 2, got = 0;
    gort_chan_send(a, &va);
    gort_chan_send(b, &vb);
    gort_select_case sc[] = {
        { .c = a, .dir = GORT_RECV, .elem = &got },
        { .c = b, .dir = GORT_RECV, .elem = &got },
    };
    const long draws = 20000;
    long counts[2] = { 0, 0 }, mismatches = 0, others = 0;
    for (long i = 0; i < draws; i++) {
        int idx = gort_select(sc, 2, (i & 1) != 0);
        if (idx == 0) {
            counts[0]++;
            mismatches += got != 1;
            gort_chan_send(a, &va);
        } else if (idx == 1) {
            counts[1]++;
            mismatches += got != 2;
            gort_chan_send(b, &vb);
        } else {
            others++;
            break;
        }
    }
    double chi = chi_square(counts, 2);
    print_message("%ld draws: %ld / %ld, chi2 = %.2f\n", draws, counts[0], counts[1], chi);
    assert_int_equal(others, 0);
    assert_int_equal(mismatches, 0);
    /* One degree of freedom: a fair choice exceeds 24 with p ~ 1e-6. */
    assert_true(chi < 24.0);

    /* Mixed directions: a ready send and a ready receive are as likely. */
    gort_chan *s = gt_chan_make(sizeof(int64_t), 1);
    gort_select_case mix[] = {
        { .c = a, .dir = GORT_RECV, .elem = &got },
        { .c = s, .dir = GORT_SEND, .elem = &vb },
    };
    counts[0] = counts[1] = 0;
    for (long i = 0; i < draws; i++) {
        int idx = gort_select(mix, 2, true);
        if (idx == 0) {
            counts[0]++;
            gort_chan_send(a, &va);
        } else if (idx == 1) {
            counts[1]++;
            gort_chan_recv(s, NULL);
        } else {
            break;
        }
    }
    chi = chi_square(counts, 2);
    print_message("send vs receive: %ld / %ld, chi2 = %.2f\n", counts[0], counts[1], chi);
    assert_int_equal(counts[0] + counts[1], draws);
    assert_true(chi < 24.0);
}

static void test_select_default_only_when_nothing_is_ready(void **state)
{
    gort_chan *u = gt_chan_make(sizeof(int64_t), 0);
    gort_chan *b = gt_chan_make(sizeof(int64_t), 1);
    gort_chan *full = gt_chan_make(sizeof(int64_t), 1);
    int64_t v = 6, got = ELEM_POISON;
    bool ok = true;
    gort_chan_send(full, &v);
    gort_select_case sc[] = {
        { .c = u, .dir = GORT_RECV, .elem = &got, .ok = &ok },
        { .c = u, .dir = GORT_SEND, .elem = &v },
        { .c = b, .dir = GORT_RECV, .elem = &got, .ok = &ok },
        { .c = full, .dir = GORT_SEND, .elem = &v },
    };
    assert_int_equal(gort_select(sc, 4, false), -1);
    assert_int_equal(got, ELEM_POISON);
    assert_true(ok);
    assert_int_equal(gort_chan_len(full), 1);
    assert_int_equal(gort_select(sc, 0, false), -1);

    /* One case ready: it is taken every time, never the default. */
    for (int i = 0; i < 100; i++) {
        v = i;
        gort_chan_send(b, &v);
        got = -1;
        ok = false;
        assert_int_equal(gort_select(sc, 4, false), 2);
        assert_int_equal(got, i);
        assert_true(ok);
    }

    /* A parked sender on the unbuffered channel makes its receive ready. */
    peer_reset(u, 31);
    assert_int_equal(gort_go(peer_sender, NULL), 0);
    assert_true(gt_wait_parked(&peer.goid, "chan send"));
    got = -1;
    assert_int_equal(gort_select(sc, 4, false), 0);
    assert_int_equal(got, 31);
    assert_true(gt_wait_for(atomic_load(&peer.done) != 0, DONE_TIMEOUT));

    /* A parked receiver makes the send ready. */
    peer_reset(u, 0);
    assert_int_equal(gort_go(peer_receiver, NULL), 0);
    assert_true(gt_wait_parked(&peer.goid, "chan receive"));
    v = 71;
    assert_int_equal(gort_select(sc, 4, false), 1);
    assert_true(gt_wait_for(atomic_load(&peer.done) != 0, DONE_TIMEOUT));
    assert_int_equal(atomic_load(&peer.got), 71);
    assert_int_equal(gort_select(sc, 4, false), -1);
}

static void test_select_never_picks_a_nil_channel(void **state)
{
    gort_chan *c = gt_chan_make(sizeof(int64_t), 1);
    int64_t v = 0, in = 8, got = -1;
    gort_select_case sc[] = {
        { .c = NULL, .dir = GORT_RECV, .elem = &v },
        { .c = NULL, .dir = GORT_SEND, .elem = &in },
        { .c = c, .dir = GORT_RECV, .elem = &got },
    };
    /* Only nil cases (the third is empty): nothing is ready. */
    assert_int_equal(gort_select(sc, 3, false), -1);
    int64_t t0 = gort_nanotime();
    int rc = gort_select_until(sc, 2, t0 + 30 * GORT_MS);
    int64_t t1 = gort_nanotime();
    assert_int_equal(rc, -ETIMEDOUT);
    assert_true(gt_deadline_kept(t0 + 30 * GORT_MS, t1));

    for (int i = 0; i < 200; i++) {
        in = i;
        gort_chan_send(c, &in);
        got = -1;
        int idx = gort_select(sc, 3, (i % 2) == 0);
        assert_int_equal(idx, 2);
        assert_int_equal(got, i);
    }
}

/* ---------------------------------------------------------------------
 * Blocking
 * ------------------------------------------------------------------- */

static struct {
    gort_chan *a, *b, *late;
    gort_select_case cases[3];
    int ncases;
    atomic_ullong goid;
    atomic_int idx;
    atomic_llong got;
    atomic_int done;
    atomic_ullong r_goid;
    atomic_llong r_got;
    atomic_int r_done;
} ws;

static int64_t ws_buf[3];

static void ws_selecter(void *arg)
{
    atomic_store(&ws.goid, gort_goid());
    int idx = gort_select(ws.cases, ws.ncases, true);
    atomic_store(&ws.idx, idx);
    atomic_store(&ws.got, idx >= 0 ? ws_buf[idx] : -1);
    atomic_store_explicit(&ws.done, 1, memory_order_release);
}

static void ws_late_receiver(void *arg)
{
    atomic_store(&ws.r_goid, gort_goid());
    int64_t v = -1;
    gort_chan_recv(ws.late, &v);
    atomic_store(&ws.r_got, v);
    atomic_store_explicit(&ws.r_done, 1, memory_order_release);
}

static void ws_reset(void)
{
    atomic_store(&ws.goid, 0);
    atomic_store(&ws.idx, -100);
    atomic_store(&ws.got, -1);
    atomic_store(&ws.done, 0);
    atomic_store(&ws.r_goid, 0);
    atomic_store(&ws.r_got, -1);
    atomic_store(&ws.r_done, 0);
    ws_buf[0] = ws_buf[1] = ws_buf[2] = -1;
}

static void test_woken_select_leaves_no_waiter_on_the_other_channels(void **state)
{
    /* Receiving select over a and b, woken through a. */
    ws_reset();
    ws.a = gt_chan_make(sizeof(int64_t), 0);
    ws.b = gt_chan_make(sizeof(int64_t), 0);
    ws.cases[0] = (gort_select_case){ .c = ws.a, .dir = GORT_RECV, .elem = &ws_buf[0] };
    ws.cases[1] = (gort_select_case){ .c = ws.b, .dir = GORT_RECV, .elem = &ws_buf[1] };
    ws.ncases = 2;
    assert_int_equal(gort_go(ws_selecter, NULL), 0);
    assert_true(gt_wait_parked(&ws.goid, "select"));
    int64_t v = 17;
    gort_chan_send(ws.a, &v);
    assert_true(gt_wait_for(atomic_load_explicit(&ws.done, memory_order_acquire), DONE_TIMEOUT));
    assert_int_equal(atomic_load(&ws.idx), 0);
    assert_int_equal(atomic_load(&ws.got), 17);

    /* Nobody waits on b any more... */
    v = 18;
    assert_false(gort_chan_trysend(ws.b, &v));
    /* ...and a receiver that comes later is the one a send on b reaches. */
    ws.late = ws.b;
    assert_int_equal(gort_go(ws_late_receiver, NULL), 0);
    assert_true(gt_wait_parked(&ws.r_goid, "chan receive"));
    v = 19;
    assert_int_equal(gort_chan_send_until(ws.b, &v, gort_nanotime() + DONE_TIMEOUT), 0);
    assert_true(gt_wait_for(atomic_load_explicit(&ws.r_done, memory_order_acquire), DONE_TIMEOUT));
    assert_int_equal(atomic_load(&ws.r_got), 19);
    assert_int_equal(ws_buf[1], -1);

    /* Sending select over a and b, woken through b: nothing is left to
     * receive on a. */
    ws_reset();
    ws_buf[0] = 20;
    ws_buf[1] = 21;
    ws.cases[0] = (gort_select_case){ .c = ws.a, .dir = GORT_SEND, .elem = &ws_buf[0] };
    ws.cases[1] = (gort_select_case){ .c = ws.b, .dir = GORT_SEND, .elem = &ws_buf[1] };
    assert_int_equal(gort_go(ws_selecter, NULL), 0);
    assert_true(gt_wait_parked(&ws.goid, "select"));
    v = -1;
    assert_true(gort_chan_recv(ws.b, &v));
    assert_int_equal(v, 21);
    assert_true(gt_wait_for(atomic_load_explicit(&ws.done, memory_order_acquire), DONE_TIMEOUT));
    assert_int_equal(atomic_load(&ws.idx), 1);
    assert_false(gort_chan_tryrecv(ws.a, &v, NULL));
    assert_int_equal(gort_chan_recv_until(ws.a, &v, NULL, gort_nanotime() + 20 * GORT_MS),
                     -ETIMEDOUT);
}

static void test_select_until_times_out_and_leaves_no_waiter(void **state)
{
    gort_chan *a = gt_chan_make(sizeof(int64_t), 0);
    gort_chan *b = gt_chan_make(sizeof(int64_t), 0);
    int64_t va = -1, vb = 9;
    gort_select_case sc[] = {
        { .c = a, .dir = GORT_RECV, .elem = &va },
        { .c = b, .dir = GORT_SEND, .elem = &vb },
    };
    int64_t t0 = gort_nanotime();
    int rc = gort_select_until(sc, 2, t0 + 50 * GORT_MS);
    int64_t t1 = gort_nanotime();
    print_message("select_until returned after %.1f ms\n", (t1 - t0) / 1e6);
    assert_int_equal(rc, -ETIMEDOUT);
    assert_true(gt_deadline_kept(t0 + 50 * GORT_MS, t1));
    assert_int_equal(va, -1);

    int64_t v = 1;
    assert_false(gort_chan_trysend(a, &v));
    assert_false(gort_chan_tryrecv(b, &v, NULL));

    /* Woken in time, it returns the case. */
    peer_reset(a, 64);
    assert_int_equal(gort_go(peer_late_sender, NULL), 0);
    t0 = gort_nanotime();
    rc = gort_select_until(sc, 2, t0 + 30 * GORT_S);
    assert_int_equal(rc, 0);
    assert_int_equal(va, 64);
    assert_true(gt_wait_for(atomic_load(&peer.done) != 0, DONE_TIMEOUT));
    assert_false(gort_chan_tryrecv(b, &v, NULL));
}

static void test_select_with_duplicate_channels(void **state)
{
    /* Two ready cases on one channel: each is chosen, about equally. */
    gort_chan *c = gt_chan_make(sizeof(int64_t), 1);
    int64_t v = 3, g0 = -1, g1 = -1;
    gort_select_case dup[] = {
        { .c = c, .dir = GORT_RECV, .elem = &g0 },
        { .c = c, .dir = GORT_RECV, .elem = &g1 },
    };
    long counts[2] = { 0, 0 };
    const long draws = 10000;
    for (long i = 0; i < draws; i++) {
        gort_chan_send(c, &v);
        int idx = gort_select(dup, 2, true);
        if (idx == 0 || idx == 1)
            counts[idx]++;
    }
    double chi = chi_square(counts, 2);
    print_message("duplicates: %ld / %ld, chi2 = %.2f\n", counts[0], counts[1], chi);
    assert_int_equal(counts[0] + counts[1], draws);
    assert_true(chi < 24.0);
    assert_int_equal(gort_chan_len(c), 0);

    /* Send and receive on the same buffered channel: whichever is ready. */
    int64_t out = 50, in = -1;
    gort_select_case both[] = {
        { .c = c, .dir = GORT_SEND, .elem = &out },
        { .c = c, .dir = GORT_RECV, .elem = &in },
    };
    assert_int_equal(gort_select(both, 2, true), 0);
    assert_int_equal(gort_chan_len(c), 1);
    assert_int_equal(gort_select(both, 2, true), 1);
    assert_int_equal(in, 50);

    /* Blocked on duplicates of an unbuffered channel: one send wakes it
     * once, and it leaves no second waiter behind. */
    ws_reset();
    ws.a = gt_chan_make(sizeof(int64_t), 0);
    ws.b = gt_chan_make(sizeof(int64_t), 0);
    ws.cases[0] = (gort_select_case){ .c = ws.a, .dir = GORT_RECV, .elem = &ws_buf[0] };
    ws.cases[1] = (gort_select_case){ .c = ws.b, .dir = GORT_RECV, .elem = &ws_buf[1] };
    ws.cases[2] = (gort_select_case){ .c = ws.a, .dir = GORT_RECV, .elem = &ws_buf[2] };
    ws.ncases = 3;
    assert_int_equal(gort_go(ws_selecter, NULL), 0);
    assert_true(gt_wait_parked(&ws.goid, "select"));
    v = 88;
    gort_chan_send(ws.a, &v);
    assert_true(gt_wait_for(atomic_load_explicit(&ws.done, memory_order_acquire), DONE_TIMEOUT));
    int idx = atomic_load(&ws.idx);
    assert_true(idx == 0 || idx == 2);
    assert_int_equal(atomic_load(&ws.got), 88);
    assert_false(gort_chan_trysend(ws.a, &v));
    assert_false(gort_chan_trysend(ws.b, &v));
}

static struct {
    gort_chan *a, *b;
    atomic_ullong goid;
    atomic_int idx[2];
    atomic_llong got;
    atomic_int ok;
    atomic_int round;
} mx;

static void mx_selecter(void *arg)
{
    for (int r = 0; r < 2; r++) {
        int64_t out = 7, in = ELEM_POISON;
        bool ok = false;
        gort_select_case sc[] = {
            { .c = mx.a, .dir = GORT_SEND, .elem = &out },
            { .c = mx.b, .dir = GORT_RECV, .elem = &in, .ok = &ok },
        };
        atomic_store(&mx.goid, gort_goid());
        int idx = gort_select(sc, 2, true);
        atomic_store(&mx.goid, 0);
        atomic_store(&mx.idx[r], idx);
        if (idx == 1) {
            atomic_store(&mx.got, in);
            atomic_store(&mx.ok, ok);
        }
        atomic_store_explicit(&mx.round, r + 1, memory_order_release);
    }
}

static void test_select_mixes_send_and_receive_cases(void **state)
{
    mx.a = gt_chan_make(sizeof(int64_t), 0);
    mx.b = gt_chan_make(sizeof(int64_t), 0);
    atomic_store(&mx.round, 0);
    assert_int_equal(gort_go(mx_selecter, NULL), 0);

    /* Round 1: our receive on a meets its send case. */
    assert_true(gt_wait_parked(&mx.goid, "select"));
    int64_t v = -1;
    assert_true(gort_chan_recv(mx.a, &v));
    assert_int_equal(v, 7);
    assert_true(gt_wait_for(atomic_load(&mx.round) == 1, DONE_TIMEOUT));

    /* Round 2: our send on b meets its receive case. */
    assert_true(gt_wait_parked(&mx.goid, "select"));
    v = 12;
    gort_chan_send(mx.b, &v);
    assert_true(gt_wait_for(atomic_load(&mx.round) == 2, DONE_TIMEOUT));

    assert_int_equal(atomic_load(&mx.idx[0]), 0);
    assert_int_equal(atomic_load(&mx.idx[1]), 1);
    assert_int_equal(atomic_load(&mx.got), 12);
    assert_true(atomic_load(&mx.ok));
}

/* ---------------------------------------------------------------------
 * Close and bad cases
 * ------------------------------------------------------------------- */

static struct {
    gort_chan *a, *b;
    atomic_ullong goid;
    atomic_int idx;
    atomic_int ok;
    atomic_llong got;
    atomic_int done;
    char msg[64];
} cs;

static void cs_recv_selecter(void *arg)
{
    atomic_store(&cs.goid, gort_goid());
    int64_t va = ELEM_POISON, vb = ELEM_POISON;
    bool oka = true, okb = true;
    gort_select_case sc[] = {
        { .c = cs.a, .dir = GORT_RECV, .elem = &va, .ok = &oka },
        { .c = cs.b, .dir = GORT_RECV, .elem = &vb, .ok = &okb },
    };
    int idx = gort_select(sc, 2, true);
    atomic_store(&cs.idx, idx);
    atomic_store(&cs.ok, idx == 1 ? okb : oka);
    atomic_store(&cs.got, idx == 1 ? vb : va);
    atomic_store_explicit(&cs.done, 1, memory_order_release);
}

static void cs_send_select_body(void *arg)
{
    int64_t v = 5;
    gort_select_case sc[] = { { .c = cs.a, .dir = GORT_SEND, .elem = &v } };
    atomic_store(&cs.goid, gort_goid());
    atomic_store(&cs.idx, gort_select(sc, 1, true));
}

static void cs_send_selecter(void *arg)
{
    const char *msg = gt_panic_message_of(cs_send_select_body, NULL);
    snprintf(cs.msg, sizeof cs.msg, "%s", msg ? msg : "(no panic)");
    atomic_store_explicit(&cs.done, 1, memory_order_release);
}

static void test_close_wakes_a_blocked_select(void **state)
{
    /* A receiving select is woken by the close of one of its channels. */
    cs.a = gt_chan_make(sizeof(int64_t), 0);
    cs.b = gt_chan_make(sizeof(int64_t), 0);
    atomic_store(&cs.goid, 0);
    atomic_store(&cs.done, 0);
    assert_int_equal(gort_go(cs_recv_selecter, NULL), 0);
    bool parked = gt_wait_parked(&cs.goid, "select");
    gort_chan_close(cs.b);
    bool done = gt_wait_for(atomic_load_explicit(&cs.done, memory_order_acquire), DONE_TIMEOUT);
    int64_t v = 1;
    bool a_free = !gort_chan_trysend(cs.a, &v);

    assert_true(parked);
    assert_true(done);
    assert_int_equal(atomic_load(&cs.idx), 1);
    assert_int_equal(atomic_load(&cs.ok), 0);
    assert_int_equal(atomic_load(&cs.got), 0);
    assert_true(a_free);

    /* A sending select panics when its channel is closed under it. */
    cs.a = gt_chan_make(sizeof(int64_t), 0);
    atomic_store(&cs.goid, 0);
    atomic_store(&cs.done, 0);
    atomic_store(&cs.idx, -100);
    assert_int_equal(gort_go(cs_send_selecter, NULL), 0);
    parked = gt_wait_parked(&cs.goid, "select");
    gort_chan_close(cs.a);
    done = gt_wait_for(atomic_load_explicit(&cs.done, memory_order_acquire), DONE_TIMEOUT);

    assert_true(parked);
    assert_true(done);
    assert_int_equal(atomic_load(&cs.idx), -100);
    assert_string_equal(cs.msg, "send on closed channel");
}

static struct {
    gort_chan *c;
    gort_select_case cases[2];
} bd;

static void op_select_bad_dir(void *arg)
{
    gort_select(bd.cases, 2, false);
}

static void test_select_case_with_bad_direction_panics_before_doing_anything(void **state)
{
    bd.c = gt_chan_make(sizeof(int64_t), 1);
    int64_t v = 3, out = -1;
    gort_chan_send(bd.c, &v);
    bd.cases[0] = (gort_select_case){ .c = bd.c, .dir = GORT_RECV, .elem = &out };
    bd.cases[1] = (gort_select_case){ .c = bd.c, .dir = 7, .elem = &out };

    const char *m = gt_panic_message_of(op_select_bad_dir, NULL);
    assert_non_null(m);
    assert_int_equal(gort_chan_len(bd.c), 1);
    assert_int_equal(out, -1);
}

/* ---------------------------------------------------------------------
 * Preemption
 * ------------------------------------------------------------------- */

/* A goroutine looping on selects that never block still makes runtime
 * calls, and every runtime call is a safe point: sysmon's preemption
 * request must make it yield, so that the other goroutines of its P (here
 * the only P) keep running: a sleeping goroutine wakes in time.  The spinner gives up by itself after
 * SPIN_LIMIT, so that a runtime that never preempts it fails the test
 * instead of hanging it. */
#define SPIN_LIMIT gt_slow(3 * GORT_S)
#define SLEEP_LIMIT gt_slow(GORT_S)

static struct {
    gort_chan *c;
    int block;
    atomic_int started;
    atomic_int stop;
    atomic_int done;
    gort_chan *report;           /* the sleeper's 5 ms sleep took this long */
} sp;

static void sp_spinner(void *arg)
{
    int64_t give_up = gt_mono_ns() + SPIN_LIMIT;
    int64_t v = 1, got;
    gort_select_case sc[] = {
        { .c = sp.c, .dir = GORT_SEND, .elem = &v },
        { .c = sp.c, .dir = GORT_RECV, .elem = &got },
    };
    atomic_store(&sp.started, 1);
    while (!atomic_load(&sp.stop) && gt_mono_ns() < give_up)
        gort_select(sc, 2, sp.block);
    atomic_store_explicit(&sp.done, 1, memory_order_release);
}

/* An ordinary goroutine on the spinner's P: once the spinner runs, how
 * long does a 5 ms sleep take it, and was the spinner still spinning when
 * it woke (rather than having given up)?  Reports { slept ns, spinner
 * running } on sp.report. */
static void sp_sleeper(void *arg)
{
    while (!atomic_load(&sp.started) && !atomic_load(&sp.stop))
        gort_gosched();
    int64_t t0 = gort_nanotime();
    gort_sleep(5 * GORT_MS);
    int64_t r[2] = { gort_nanotime() - t0,
                     atomic_load(&sp.started) && !atomic_load(&sp.done) };
    gort_chan_send(sp.report, r);
}

static void test_selects_that_never_block_are_preemption_points(void **state)
{
    gort_gomaxprocs(1);
    sp.c = gt_chan_make(sizeof(int64_t), 1);
    sp.report = gt_chan_make(2 * sizeof(int64_t), 1);
    int64_t slept[2];
    bool done[2], spinning[2];
    for (int block = 0; block < 2; block++) {
        sp.block = block;
        atomic_store(&sp.started, 0);
        atomic_store(&sp.stop, 0);
        atomic_store(&sp.done, 0);
        int rc = gort_go(sp_spinner, NULL);
        int rc2 = gort_go(sp_sleeper, NULL);
        /* Wait on the channel rather than by polling: a main goroutine
         * woken every millisecond might itself get the spinner off the P. */
        int64_t r[2] = { 0, 0 };
        gort_chan_recv_until(sp.report, r, NULL, gort_nanotime() + SPIN_LIMIT + DONE_TIMEOUT);
        slept[block] = r[0];
        spinning[block] = r[1] != 0;
        atomic_store(&sp.stop, 1);
        done[block] = gt_wait_for(atomic_load_explicit(&sp.done, memory_order_acquire) != 0,
                                  DONE_TIMEOUT);
        print_message("%s select: a 5 ms sleep took %.1f ms in a goroutine beside the spinner%s\n",
                      block ? "blocking" : "non-blocking", slept[block] / 1e6,
                      spinning[block] ? "" : " (which had given up by then)");
        assert_int_equal(rc, 0);
        assert_int_equal(rc2, 0);
    }
    for (int block = 0; block < 2; block++) {
        assert_true(done[block]);
        assert_true(slept[block] > 0 && slept[block] < SLEEP_LIMIT);
        assert_true(spinning[block]);
    }
}

/* ---------------------------------------------------------------------
 * Lock order
 * ------------------------------------------------------------------- */

/* Goroutines of kind X select over (send a, receive b) and goroutines of
 * kind Y over (send b, receive a): the same two channels named in opposite
 * orders.  Each completed select pairs one X with one Y, so with equal
 * numbers of rounds everyone finishes, unless the implementation deadlocks
 * on the lock order. */
#define OO_PAIRS 4

static struct {
    gort_chan *a, *b;
    long iters;
    gort_waitgroup wg;
    atomic_long x_sent, x_recv, y_sent, y_recv;
    atomic_ullong sum_sent, sum_recv;
    atomic_int bad;
} oo;

static void oo_x(void *arg)
{
    long sent = 0, recvd = 0;
    uint64_t ss = 0, sr = 0;
    for (long i = 0; i < oo.iters; i++) {
        int64_t out = (int64_t)(intptr_t)arg * 1000003 + i, in = -1;
        gort_select_case sc[] = {
            { .c = oo.a, .dir = GORT_SEND, .elem = &out },
            { .c = oo.b, .dir = GORT_RECV, .elem = &in },
        };
        int idx = gort_select(sc, 2, true);
        if (idx == 0) {
            sent++;
            ss += (uint64_t)out;
        } else if (idx == 1) {
            recvd++;
            sr += (uint64_t)in;
        } else {
            atomic_store(&oo.bad, 1);
        }
    }
    atomic_fetch_add(&oo.x_sent, sent);
    atomic_fetch_add(&oo.x_recv, recvd);
    atomic_fetch_add(&oo.sum_sent, ss);
    atomic_fetch_add(&oo.sum_recv, sr);
    gort_waitgroup_done(&oo.wg);
}

static void oo_y(void *arg)
{
    long sent = 0, recvd = 0;
    uint64_t ss = 0, sr = 0;
    for (long i = 0; i < oo.iters; i++) {
        int64_t out = -((int64_t)(intptr_t)arg * 1000003 + i), in = -1;
        gort_select_case sc[] = {
            { .c = oo.b, .dir = GORT_SEND, .elem = &out },
            { .c = oo.a, .dir = GORT_RECV, .elem = &in },
        };
        int idx = gort_select(sc, 2, true);
        if (idx == 0) {
            sent++;
            ss += (uint64_t)out;
        } else if (idx == 1) {
            recvd++;
            sr += (uint64_t)in;
        } else {
            atomic_store(&oo.bad, 1);
        }
    }
    atomic_fetch_add(&oo.y_sent, sent);
    atomic_fetch_add(&oo.y_recv, recvd);
    atomic_fetch_add(&oo.sum_sent, ss);
    atomic_fetch_add(&oo.sum_recv, sr);
    gort_waitgroup_done(&oo.wg);
}

static void test_selects_in_opposite_order_never_deadlock(void **state)
{
    gort_gomaxprocs(2);
    oo.a = gt_chan_make(sizeof(int64_t), 0);
    oo.b = gt_chan_make(sizeof(int64_t), 0);
    oo.iters = gt_scale(20000);
    oo.wg = (gort_waitgroup)GORT_WAITGROUP_INIT;
    gort_waitgroup_add(&oo.wg, 2 * OO_PAIRS);
    int failures = 0;
    for (int i = 0; i < OO_PAIRS; i++) {
        failures += gort_go(oo_x, (void *)(intptr_t)(i + 1)) != 0;
        failures += gort_go(oo_y, (void *)(intptr_t)(i + 1)) != 0;
    }
    int64_t t0 = gort_nanotime();
    bool done = gt_wg_wait_timeout(&oo.wg, gt_slow(60 * GORT_S));
    print_message("%d x %ld selects in %.0f ms\n", 2 * OO_PAIRS, oo.iters,
                  (gort_nanotime() - t0) / 1e6);

    assert_int_equal(failures, 0);
    assert_true(done);
    assert_int_equal(atomic_load(&oo.bad), 0);
    assert_int_equal(atomic_load(&oo.x_sent) + atomic_load(&oo.x_recv), OO_PAIRS * oo.iters);
    assert_int_equal(atomic_load(&oo.y_sent) + atomic_load(&oo.y_recv), OO_PAIRS * oo.iters);
    assert_int_equal(atomic_load(&oo.x_sent), atomic_load(&oo.y_recv));
    assert_int_equal(atomic_load(&oo.y_sent), atomic_load(&oo.x_recv));
    assert_true(atomic_load(&oo.sum_sent) == atomic_load(&oo.sum_recv));
}

/* ---------------------------------------------------------------------
 * Stress: many producers and consumers, every value accounted for
 * ------------------------------------------------------------------- */

#define SX_PRODUCERS 8
#define SX_CONSUMERS 8

static struct {
    gort_chan *u, *b;
    long per_producer;
    gort_waitgroup producers, consumers;
    atomic_ullong count, sum, mix;
    atomic_int bad;
} sx;

static uint64_t sx_value(int p, long i)
{
    return ((uint64_t)(p + 1) << 40) | (uint64_t)i;
}

/* A bijective mix, so that a lost value and a duplicated one cannot cancel
 * out in the checksum. */
static uint64_t sx_mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static void sx_producer(void *arg)
{
    int p = (int)(intptr_t)arg;
    for (long i = 0; i < sx.per_producer; i++) {
        uint64_t v = sx_value(p, i);
        switch ((i + p) % 4) {
        case 0:
            gort_chan_send(sx.u, &v);
            break;
        case 1:
            gort_chan_send(sx.b, &v);
            break;
        case 2: {
            gort_select_case sc[] = {
                { .c = sx.u, .dir = GORT_SEND, .elem = &v },
                { .c = sx.b, .dir = GORT_SEND, .elem = &v },
            };
            if (gort_select(sc, 2, true) < 0)
                atomic_store(&sx.bad, 1);
            break;
        }
        default:
            while (gort_chan_send_until(i % 2 ? sx.u : sx.b, &v,
                                        gort_nanotime() + 200 * GORT_US) != 0) {
            }
            break;
        }
    }
    gort_waitgroup_done(&sx.producers);
}

static void sx_account(uint64_t *n, uint64_t *sum, uint64_t *mix, uint64_t v)
{
    (*n)++;
    *sum += v;
    *mix += sx_mix(v);
}

static void sx_consumer(void *arg)
{
    int k = (int)(intptr_t)arg;
    gort_chan *cu = sx.u, *cb = sx.b;
    uint64_t n = 0, sum = 0, mix = 0, turn = 0;
    while (cu != NULL || cb != NULL) {
        uint64_t v = 0;
        bool ok = false;
        if (k % 2 == 0) {
            /* A select over both; a closed channel becomes nil. */
            uint64_t vu = 0, vb = 0;
            bool oku = false, okb = false;
            gort_select_case sc[] = {
                { .c = cu, .dir = GORT_RECV, .elem = &vu, .ok = &oku },
                { .c = cb, .dir = GORT_RECV, .elem = &vb, .ok = &okb },
            };
            int idx = gort_select(sc, 2, true);
            if (idx == 0) {
                if (oku)
                    sx_account(&n, &sum, &mix, vu);
                else
                    cu = NULL;
            } else if (idx == 1) {
                if (okb)
                    sx_account(&n, &sum, &mix, vb);
                else
                    cb = NULL;
            } else {
                atomic_store(&sx.bad, 1);
                break;
            }
        } else {
            /* Short deadlines on each channel in turn, racing senders. */
            gort_chan **c = ((turn++ & 1) == 0 && cu != NULL) || cb == NULL ? &cu : &cb;
            int rc = gort_chan_recv_until(*c, &v, &ok, gort_nanotime() + 300 * GORT_US);
            if (rc == 0 && ok)
                sx_account(&n, &sum, &mix, v);
            else if (rc == 0)
                *c = NULL;
            else if (rc != -ETIMEDOUT)
                atomic_store(&sx.bad, 1);
        }
    }
    atomic_fetch_add(&sx.count, n);
    atomic_fetch_add(&sx.sum, sum);
    atomic_fetch_add(&sx.mix, mix);
    gort_waitgroup_done(&sx.consumers);
}

static void test_many_producers_and_consumers_conserve_every_value(void **state)
{
    gort_gomaxprocs(4);
    sx.u = gt_chan_make(sizeof(uint64_t), 0);
    sx.b = gt_chan_make(sizeof(uint64_t), 16);
    sx.per_producer = gt_scale(25000);
    sx.producers = (gort_waitgroup)GORT_WAITGROUP_INIT;
    sx.consumers = (gort_waitgroup)GORT_WAITGROUP_INIT;
    gort_waitgroup_add(&sx.producers, SX_PRODUCERS);
    gort_waitgroup_add(&sx.consumers, SX_CONSUMERS);

    uint64_t want_n = 0, want_sum = 0, want_mix = 0;
    for (int p = 0; p < SX_PRODUCERS; p++)
        for (long i = 0; i < sx.per_producer; i++)
            sx_account(&want_n, &want_sum, &want_mix, sx_value(p, i));

    int failures = 0;
    int64_t t0 = gort_nanotime();
    for (int k = 0; k < SX_CONSUMERS; k++)
        failures += gort_go(sx_consumer, (void *)(intptr_t)k) != 0;
    for (int p = 0; p < SX_PRODUCERS; p++)
        failures += gort_go(sx_producer, (void *)(intptr_t)p) != 0;
    bool produced = gt_wg_wait_timeout(&sx.producers, gt_slow(60 * GORT_S));
    if (produced) {
        gort_chan_close(sx.u);
        gort_chan_close(sx.b);
    }
    bool consumed = produced && gt_wg_wait_timeout(&sx.consumers, gt_slow(30 * GORT_S));
    print_message("%" PRIu64 " values through %d producers and %d consumers in %.0f ms\n",
                  want_n, SX_PRODUCERS, SX_CONSUMERS, (gort_nanotime() - t0) / 1e6);

    assert_int_equal(failures, 0);
    assert_true(produced);
    assert_true(consumed);
    assert_int_equal(atomic_load(&sx.bad), 0);
    assert_int_equal(atomic_load(&sx.count), want_n);
    assert_true(atomic_load(&sx.sum) == want_sum);
    assert_true(atomic_load(&sx.mix) == want_mix);
}

/* ---------------------------------------------------------------------
 * Suite
 * ------------------------------------------------------------------- */

#define T(f) cmocka_unit_test_setup_teardown(f, gt_save_knobs, gt_restore_knobs)

static void run_all(void *arg)
{
    const struct CMUnitTest tests[] = {
        T(test_select_chooses_uniformly_among_ready_cases),
        T(test_select_default_only_when_nothing_is_ready),
        T(test_select_never_picks_a_nil_channel),
        T(test_woken_select_leaves_no_waiter_on_the_other_channels),
        T(test_select_until_times_out_and_leaves_no_waiter),
        T(test_select_with_duplicate_channels),
        T(test_select_mixes_send_and_receive_cases),
        T(test_close_wakes_a_blocked_select),
        T(test_select_case_with_bad_direction_panics_before_doing_anything),
        T(test_selects_that_never_block_are_preemption_points),
        T(test_selects_in_opposite_order_never_deadlock),
        T(test_many_producers_and_consumers_conserve_every_value),
    };
    /* cmocka keeps its state in thread-local variables: the goroutine that
     * runs the group must not move to another thread. */
    gort_lock_os_thread();
    gt_select_tests();
    *(int *)arg = cmocka_run_group_tests(tests, NULL, NULL);
    gort_unlock_os_thread();
}

int main(void)
{
    return gt_main("test_select", run_all);
}
