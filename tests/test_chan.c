/*
 * test_chan.c - channels as a program sees them, checked against Go's
 * semantics: direct hand-off, first-come first-served waiters, the
 * buffered ring, close (wake every waiter, drain before ok=false, panic
 * blocked senders), the runtime panics and their messages, nil channels,
 * zero-size and typed elements, argument checking, the try and deadline
 * variants, channel ops as preemption points, and what the deadlock
 * detector makes of goroutines blocked on channels (helper program
 * tests/progs/chanblock.c).  select has its own
 * suite, test_select.c.
 *
 * Arrival order is made deterministic by starting waiters one at a time and
 * waiting until a goroutine dump shows each parked ("[chan send]",
 * "[chan receive]"): a channel op queues its waiter before it parks, so a
 * parked goroutine is already in the queue.
 *
 * Every test body runs on the main goroutine; see testutil.h for the rules
 * the tests follow.  Each test runs between gt_save_knobs and gt_restore_knobs,
 * which put GOMAXPROCS back even when the test fails.  Panics are caught
 * with gort_pcall and a deferred gort_recover (gt_panic_message_of), on
 * whichever goroutine raised them; nothing inside a protected call
 * asserts.
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
#include <pthread.h>

#include "testutil.h"

/* How long a waiter may take to show up parked, or a test to finish. */
#define DONE_TIMEOUT gt_slow(10 * GORT_S)
#define HELPER_TIMEOUT gt_slow(30 * GORT_S)


/* ---------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------- */


/* ---------------------------------------------------------------------
 * Unbuffered hand-off
 * ------------------------------------------------------------------- */

static struct {
    gort_chan *c;
    atomic_ullong goid;
    atomic_int sent;
} ho;

static void ho_sender(void *arg)
{
    atomic_store(&ho.goid, gort_goid());
    int64_t v = 4242;
    gort_chan_send(ho.c, &v);
    atomic_store(&ho.sent, 1);
}

static void test_unbuffered_send_waits_for_a_receiver_and_hands_off(void **state)
{
    ho.c = gt_chan_make(sizeof(int64_t), 0);
    assert_non_null(ho.c);
    assert_int_equal(gort_chan_len(ho.c), 0);
    assert_int_equal(gort_chan_cap(ho.c), 0);

    assert_int_equal(gort_go(ho_sender, NULL), 0);
    bool parked = gt_wait_parked(&ho.goid, "chan send");
    gort_sleep(20 * GORT_MS);
    int sent_before = atomic_load(&ho.sent);
    int64_t v = 0;
    bool ok = gort_chan_recv(ho.c, &v);
    bool sent = gt_wait_for(atomic_load(&ho.sent) != 0, DONE_TIMEOUT);

    assert_true(parked);
    assert_int_equal(sent_before, 0);
    assert_true(ok);
    assert_int_equal(v, 4242);
    assert_true(sent);
    assert_int_equal(gort_chan_len(ho.c), 0);
}

static struct {
    gort_chan *c;
    int n;
    atomic_int done;
} pp;

static void pp_sender(void *arg)
{
    for (int64_t i = 0; i < pp.n; i++)
        gort_chan_send(pp.c, &i);
    atomic_store(&pp.done, 1);
}

static void test_unbuffered_values_arrive_in_send_order(void **state)
{
    gort_gomaxprocs(2);
    pp.c = gt_chan_make(sizeof(int64_t), 0);
    pp.n = (int)gt_scale(20000);
    assert_int_equal(gort_go(pp_sender, NULL), 0);
    int64_t bad_at = -1, v;
    for (int64_t i = 0; i < pp.n; i++) {
        bool ok = gort_chan_recv(pp.c, &v);
        if ((!ok || v != i) && bad_at < 0)
            bad_at = i;
    }
    bool done = gt_wait_for(atomic_load(&pp.done) != 0, DONE_TIMEOUT);
    assert_int_equal(bad_at, -1);
    assert_true(done);
}

/* ---------------------------------------------------------------------
 * First come, first served
 * ------------------------------------------------------------------- */

#define FIFO_N 6

static struct {
    gort_chan *c;
    atomic_ullong goid[FIFO_N];
    atomic_int done[FIFO_N];
    atomic_llong got[FIFO_N];
    atomic_int ok[FIFO_N];
} ff;

static void ff_sender(void *arg)
{
    int i = (int)(intptr_t)arg;
    atomic_store(&ff.goid[i], gort_goid());
    int64_t v = i;
    gort_chan_send(ff.c, &v);
    atomic_store(&ff.done[i], 1);
}

static void ff_receiver(void *arg)
{
    int i = (int)(intptr_t)arg;
    atomic_store(&ff.goid[i], gort_goid());
    int64_t v = -1;
    bool ok = gort_chan_recv(ff.c, &v);
    atomic_store(&ff.got[i], v);
    atomic_store(&ff.ok[i], ok);
    atomic_store(&ff.done[i], 1);
}

static void ff_reset(gort_chan *c)
{
    ff.c = c;
    for (int i = 0; i < FIFO_N; i++) {
        atomic_store(&ff.goid[i], 0);
        atomic_store(&ff.done[i], 0);
        atomic_store(&ff.got[i], -1);
        atomic_store(&ff.ok[i], 0);
    }
}

static int ff_count_done(void)
{
    int n = 0;
    for (int i = 0; i < FIFO_N; i++)
        n += atomic_load(&ff.done[i]);
    return n;
}

/* Start fn(0..FIFO_N-1) one at a time, each parked before the next starts.
 * Returns how many parked. */
static int ff_start_in_order(gort_fn fn, const char *reason)
{
    int parked = 0;
    for (int i = 0; i < FIFO_N; i++) {
        if (gort_go(fn, (void *)(intptr_t)i) != 0)
            break;
        if (!gt_wait_parked(&ff.goid[i], reason))
            break;
        parked++;
    }
    return parked;
}

static void test_blocked_senders_are_served_in_arrival_order(void **state)
{
    ff_reset(gt_chan_make(sizeof(int64_t), 0));
    int parked = ff_start_in_order(ff_sender, "chan send");
    int64_t got[FIFO_N];
    for (int i = 0; i < parked; i++) {
        got[i] = -1;
        gort_chan_recv(ff.c, &got[i]);
    }
    bool all = gt_wait_for(ff_count_done() == parked, DONE_TIMEOUT);

    assert_int_equal(parked, FIFO_N);
    for (int i = 0; i < FIFO_N; i++)
        assert_int_equal(got[i], i);
    assert_true(all);
}

static void test_blocked_senders_on_full_buffer_queue_behind_it_in_order(void **state)
{
    ff_reset(gt_chan_make(sizeof(int64_t), 2));
    int64_t v = 100;
    assert_true(gort_chan_trysend(ff.c, &v));
    v = 101;
    assert_true(gort_chan_trysend(ff.c, &v));
    int parked = ff_start_in_order(ff_sender, "chan send");
    /* Each receive takes the buffer's head and moves the first blocked
     * sender's value to its tail: the buffer stays full. */
    int64_t got[FIFO_N + 2];
    size_t len_after_first = 0;
    for (int i = 0; i < parked + 2; i++) {
        got[i] = -1;
        gort_chan_recv(ff.c, &got[i]);
        if (i == 0)
            len_after_first = gort_chan_len(ff.c);
    }
    bool all = gt_wait_for(ff_count_done() == parked, DONE_TIMEOUT);

    assert_int_equal(parked, FIFO_N);
    assert_true(all);
    assert_int_equal(len_after_first, 2);
    assert_int_equal(got[0], 100);
    assert_int_equal(got[1], 101);
    for (int i = 0; i < FIFO_N; i++)
        assert_int_equal(got[i + 2], i);
    assert_int_equal(gort_chan_len(ff.c), 0);
}

static void test_blocked_receivers_are_served_in_arrival_order(void **state)
{
    ff_reset(gt_chan_make(sizeof(int64_t), 0));
    int parked = ff_start_in_order(ff_receiver, "chan receive");
    for (int64_t i = 0; i < parked; i++)
        gort_chan_send(ff.c, &i);
    bool all = gt_wait_for(ff_count_done() == parked, DONE_TIMEOUT);

    assert_int_equal(parked, FIFO_N);
    assert_true(all);
    for (int i = 0; i < FIFO_N; i++) {
        assert_int_equal(atomic_load(&ff.got[i]), i);
        assert_true(atomic_load(&ff.ok[i]));
    }
}

/* ---------------------------------------------------------------------
 * Buffered channels
 * ------------------------------------------------------------------- */

static void test_buffered_channel_is_a_fifo_ring_with_len_and_cap(void **state)
{
    gort_chan *c = gt_chan_make(sizeof(int64_t), 4);
    assert_non_null(c);
    assert_int_equal(gort_chan_cap(c), 4);
    assert_int_equal(gort_chan_len(c), 0);

    /* Fill, overflow, then run the ring around several times with a
     * varying fill level, checking order and len at every step. */
    int64_t next_in = 0, next_out = 0, v;
    for (int i = 0; i < 4; i++) {
        v = next_in++;
        assert_true(gort_chan_trysend(c, &v));
        assert_int_equal(gort_chan_len(c), (size_t)i + 1);
    }
    v = -7;
    assert_false(gort_chan_trysend(c, &v));
    assert_int_equal(gort_chan_len(c), 4);

    for (int round = 0; round < 40; round++) {
        int take = 1 + round % 4;
        for (int k = 0; k < take; k++) {
            bool ok = false;
            v = -1;
            assert_true(gort_chan_tryrecv(c, &v, &ok));
            assert_true(ok);
            assert_int_equal(v, next_out);
            next_out++;
        }
        assert_int_equal(gort_chan_len(c), (size_t)(next_in - next_out));
        while (next_in - next_out < 4) {
            v = next_in++;
            gort_chan_send(c, &v);
        }
        assert_int_equal(gort_chan_len(c), 4);
        assert_int_equal(gort_chan_cap(c), 4);
    }
    while (next_out < next_in) {
        assert_true(gort_chan_recv(c, &v));
        assert_int_equal(v, next_out);
        next_out++;
    }
    bool ok = true;
    assert_false(gort_chan_tryrecv(c, &v, &ok));
    assert_int_equal(gort_chan_len(c), 0);
}

static struct {
    gort_chan *c;
    atomic_ullong goid;
    atomic_llong got;
    atomic_int done;
} dh;

static void dh_receiver(void *arg)
{
    atomic_store(&dh.goid, gort_goid());
    int64_t v = -1;
    gort_chan_recv(dh.c, &v);
    atomic_store(&dh.got, v);
    atomic_store(&dh.done, 1);
}

static void test_buffered_send_goes_straight_to_a_waiting_receiver(void **state)
{
    /* One P: the woken receiver cannot run before the checks below, so a
     * value that went through the buffer would still be counted in len. */
    gort_gomaxprocs(1);
    dh.c = gt_chan_make(sizeof(int64_t), 4);
    assert_int_equal(gort_go(dh_receiver, NULL), 0);
    bool parked = gt_wait_parked(&dh.goid, "chan receive");

    int64_t v = 77;
    gort_chan_send(dh.c, &v);
    size_t len_after_send = gort_chan_len(dh.c);
    int free_slots = 0;
    for (int64_t i = 0; i < 5; i++)
        free_slots += gort_chan_trysend(dh.c, &i);
    bool done = gt_wait_for(atomic_load(&dh.done) != 0, DONE_TIMEOUT);

    assert_true(parked);
    assert_int_equal(len_after_send, 0);
    assert_int_equal(free_slots, 4);
    assert_true(done);
    assert_int_equal(atomic_load(&dh.got), 77);
}

/* ---------------------------------------------------------------------
 * Close
 * ------------------------------------------------------------------- */

#define CL_N 5
#define ELEM_POISON ((int64_t)0x5a5a5a5a5a5a5a5aLL)

static struct {
    gort_chan *c;
    atomic_ullong goid[CL_N];
    atomic_int done[CL_N];
    atomic_int ok[CL_N];
    atomic_llong got[CL_N];
    atomic_int send_returned[CL_N];
    _Atomic(gort_panic_info *) recovered[CL_N];
    _Atomic(gort_panic_info *) pcall_result[CL_N];
    char msg[CL_N][64];
} cl;

static void cl_reset(gort_chan *c)
{
    cl.c = c;
    for (int i = 0; i < CL_N; i++) {
        atomic_store(&cl.goid[i], 0);
        atomic_store(&cl.done[i], 0);
        atomic_store(&cl.ok[i], -1);
        atomic_store(&cl.got[i], -1);
        atomic_store(&cl.send_returned[i], 0);
        atomic_store(&cl.recovered[i], NULL);
        atomic_store(&cl.pcall_result[i], NULL);
        cl.msg[i][0] = '\0';
    }
}

static int cl_count_done(void)
{
    int n = 0;
    for (int i = 0; i < CL_N; i++)
        n += atomic_load_explicit(&cl.done[i], memory_order_acquire);
    return n;
}

static void cl_receiver(void *arg)
{
    int i = (int)(intptr_t)arg;
    atomic_store(&cl.goid[i], gort_goid());
    int64_t v = ELEM_POISON;
    bool ok = gort_chan_recv(cl.c, &v);
    atomic_store(&cl.got[i], v);
    atomic_store(&cl.ok[i], ok);
    atomic_store_explicit(&cl.done[i], 1, memory_order_release);
}

static void test_close_wakes_every_blocked_receiver_with_zero_value(void **state)
{
    const size_t caps[] = { 0, 3 };
    for (size_t k = 0; k < 2; k++) {
        cl_reset(gt_chan_make(sizeof(int64_t), caps[k]));
        int parked = 0;
        for (int i = 0; i < CL_N; i++) {
            assert_int_equal(gort_go(cl_receiver, (void *)(intptr_t)i), 0);
            parked += gt_wait_parked(&cl.goid[i], "chan receive");
        }
        gort_chan_close(cl.c);
        bool all = gt_wait_for(cl_count_done() == CL_N, DONE_TIMEOUT);

        print_message("cap %zu\n", caps[k]);
        assert_int_equal(parked, CL_N);
        assert_true(all);
        for (int i = 0; i < CL_N; i++) {
            assert_int_equal(atomic_load(&cl.ok[i]), 0);
            assert_int_equal(atomic_load(&cl.got[i]), 0);
        }
    }
}

static void cl_recover(void *arg)
{
    int i = (int)(intptr_t)arg;
    gort_panic_info *p = gort_recover();
    atomic_store(&cl.recovered[i], p);
}

static void cl_send_body(void *arg)
{
    int i = (int)(intptr_t)arg;
    gort_defer(cl_recover, arg);
    atomic_store(&cl.goid[i], gort_goid());
    int64_t v = 1000 + i;
    gort_chan_send(cl.c, &v);
    atomic_store(&cl.send_returned[i], 1);
}

static void cl_sender(void *arg)
{
    int i = (int)(intptr_t)arg;
    gort_panic_info *p = gort_pcall(cl_send_body, arg);
    atomic_store(&cl.pcall_result[i], p);
    if (p != NULL && gort_panic_message(p) != NULL)
        snprintf(cl.msg[i], sizeof cl.msg[i], "%s", gort_panic_message(p));
    atomic_store_explicit(&cl.done[i], 1, memory_order_release);
}

static void test_close_makes_every_blocked_sender_panic(void **state)
{
    const size_t caps[] = { 0, 1 };
    for (size_t k = 0; k < 2; k++) {
        cl_reset(gt_chan_make(sizeof(int64_t), caps[k]));
        int64_t filler = 9;
        if (caps[k] == 1)
            assert_true(gort_chan_trysend(cl.c, &filler));
        int parked = 0;
        for (int i = 0; i < CL_N; i++) {
            assert_int_equal(gort_go(cl_sender, (void *)(intptr_t)i), 0);
            parked += gt_wait_parked(&cl.goid[i], "chan send");
        }
        gort_chan_close(cl.c);
        bool all = gt_wait_for(cl_count_done() == CL_N, DONE_TIMEOUT);
        /* The buffered value survives the close; the senders' do not. */
        int64_t v = -1;
        bool ok1 = gort_chan_recv(cl.c, &v);
        int64_t v1 = v;
        bool ok2 = gort_chan_recv(cl.c, &v);

        print_message("cap %zu\n", caps[k]);
        assert_int_equal(parked, CL_N);
        assert_true(all);
        for (int i = 0; i < CL_N; i++) {
            assert_int_equal(atomic_load(&cl.send_returned[i]), 0);
            assert_non_null(atomic_load(&cl.recovered[i]));
            assert_ptr_equal(atomic_load(&cl.pcall_result[i]),
                             atomic_load(&cl.recovered[i]));
            assert_string_equal(cl.msg[i], "send on closed channel");
        }
        if (caps[k] == 1) {
            assert_true(ok1);
            assert_int_equal(v1, 9);
        } else {
            assert_false(ok1);
        }
        assert_false(ok2);
        assert_int_equal(v, 0);
    }
}

static void test_closed_buffered_channel_drains_before_reporting_closed(void **state)
{
    gort_chan *c = gt_chan_make(sizeof(int64_t), 3);
    for (int64_t i = 1; i <= 3; i++)
        gort_chan_send(c, &i);
    gort_chan_close(c);
    assert_int_equal(gort_chan_len(c), 3);
    assert_int_equal(gort_chan_cap(c), 3);

    int64_t v;
    bool ok;
    assert_true(gort_chan_recv(c, &v));
    assert_int_equal(v, 1);
    ok = false;
    assert_true(gort_chan_tryrecv(c, &v, &ok));
    assert_true(ok);
    assert_int_equal(v, 2);
    gort_select_case sc[] = { { .c = c, .dir = GORT_RECV, .elem = &v, .ok = &ok } };
    ok = false;
    assert_int_equal(gort_select(sc, 1, false), 0);
    assert_true(ok);
    assert_int_equal(v, 3);
    assert_int_equal(gort_chan_len(c), 0);

    /* Drained: every kind of receive completes at once with ok=false and a
     * zeroed element. */
    v = ELEM_POISON;
    assert_false(gort_chan_recv(c, &v));
    assert_int_equal(v, 0);
    assert_false(gort_chan_recv(c, NULL));
    v = ELEM_POISON;
    ok = true;
    assert_true(gort_chan_tryrecv(c, &v, &ok));
    assert_false(ok);
    assert_int_equal(v, 0);
    v = ELEM_POISON;
    ok = true;
    assert_int_equal(gort_chan_recv_until(c, &v, &ok, gort_nanotime() + 10 * GORT_S), 0);
    assert_false(ok);
    assert_int_equal(v, 0);
    v = ELEM_POISON;
    ok = true;
    assert_int_equal(gort_chan_recv_until(c, &v, &ok, gort_nanotime() - GORT_S), 0);
    assert_false(ok);
    assert_int_equal(v, 0);
    v = ELEM_POISON;
    ok = true;
    assert_int_equal(gort_select(sc, 1, true), 0);
    assert_false(ok);
    assert_int_equal(v, 0);
}

static struct {
    gort_chan *c;
    atomic_ullong recv_goid, send_goid;
    atomic_int recv_rc, recv_ok;
    atomic_llong recv_got;
    atomic_int recv_done, send_done;
    char send_msg[64];
} cu;

static void cu_receiver(void *arg)
{
    atomic_store(&cu.recv_goid, gort_goid());
    int64_t v = ELEM_POISON;
    bool ok = true;
    int rc = gort_chan_recv_until(cu.c, &v, &ok, gort_nanotime() + 60 * GORT_S);
    atomic_store(&cu.recv_rc, rc);
    atomic_store(&cu.recv_ok, ok);
    atomic_store(&cu.recv_got, v);
    atomic_store_explicit(&cu.recv_done, 1, memory_order_release);
}

static void cu_send_op(void *arg)
{
    int64_t v = 3;
    atomic_store(&cu.send_goid, gort_goid());
    gort_chan_send_until(cu.c, &v, gort_nanotime() + 60 * GORT_S);
}

static void cu_sender(void *arg)
{
    const char *m = gt_panic_message_of(cu_send_op, NULL);
    snprintf(cu.send_msg, sizeof cu.send_msg, "%s", m != NULL ? m : "(no panic)");
    atomic_store_explicit(&cu.send_done, 1, memory_order_release);
}

static void test_close_wakes_waiters_with_deadlines_at_once(void **state)
{
    /* Receiver and sender on two channels, each closed under them long
     * before their deadline. */
    cu.c = gt_chan_make(sizeof(int64_t), 0);
    assert_int_equal(gort_go(cu_receiver, NULL), 0);
    assert_true(gt_wait_parked(&cu.recv_goid, "chan receive"));
    int64_t t0 = gort_nanotime();
    gort_chan_close(cu.c);
    assert_true(gt_wait_for(atomic_load_explicit(&cu.recv_done, memory_order_acquire),
                            DONE_TIMEOUT));
    assert_int_equal(atomic_load(&cu.recv_rc), 0);
    assert_int_equal(atomic_load(&cu.recv_ok), 0);
    assert_int_equal(atomic_load(&cu.recv_got), 0);

    cu.c = gt_chan_make(sizeof(int64_t), 0);
    assert_int_equal(gort_go(cu_sender, NULL), 0);
    assert_true(gt_wait_parked(&cu.send_goid, "chan send"));
    gort_chan_close(cu.c);
    assert_true(gt_wait_for(atomic_load_explicit(&cu.send_done, memory_order_acquire),
                            DONE_TIMEOUT));
    assert_string_equal(cu.send_msg, "send on closed channel");
    assert_true(gort_nanotime() - t0 < 30 * GORT_S);
}

/* ---------------------------------------------------------------------
 * Runtime panics
 * ------------------------------------------------------------------- */

static int64_t op_value = 11;

static void op_send(void *c) { gort_chan_send(c, &op_value); }
static void op_trysend(void *c) { gort_chan_trysend(c, &op_value); }
static void op_send_until(void *c)
{
    gort_chan_send_until(c, &op_value, gort_nanotime() + GORT_S);
}
static void op_select_send(void *c)
{
    gort_select_case sc[] = { { .c = c, .dir = GORT_SEND, .elem = &op_value } };
    gort_select(sc, 1, false);
}
static void op_close(void *c) { gort_chan_close(c); }

static void test_send_on_closed_channel_panics(void **state)
{
    const size_t caps[] = { 0, 2 };
    for (size_t k = 0; k < 2; k++) {
        gort_chan *c = gt_chan_make(sizeof(int64_t), caps[k]);
        gort_chan_close(c);
        print_message("cap %zu\n", caps[k]);
        const char *m;
        m = gt_panic_message_of(op_send, c);
        assert_non_null(m);
        assert_string_equal(m, "send on closed channel");
        m = gt_panic_message_of(op_trysend, c);
        assert_non_null(m);
        assert_string_equal(m, "send on closed channel");
        m = gt_panic_message_of(op_send_until, c);
        assert_non_null(m);
        assert_string_equal(m, "send on closed channel");
        m = gt_panic_message_of(op_select_send, c);
        assert_non_null(m);
        assert_string_equal(m, "send on closed channel");
        assert_int_equal(gort_chan_len(c), 0);
    }
}

static void test_close_of_closed_and_of_nil_channel_panic(void **state)
{
    gort_chan *c = gt_chan_make(sizeof(int64_t), 1);
    assert_null(gt_panic_message_of(op_close, c));
    const char *m = gt_panic_message_of(op_close, c);
    assert_non_null(m);
    assert_string_equal(m, "close of closed channel");
    m = gt_panic_message_of(op_close, NULL);
    assert_non_null(m);
    assert_string_equal(m, "close of nil channel");
}

/* ---------------------------------------------------------------------
 * Nil channels
 * ------------------------------------------------------------------- */

static struct {
    atomic_ullong send_goid, recv_goid;
    atomic_int returned;
} nl;

/* Both stay blocked for the rest of the run: a nil channel blocks forever. */
static void nl_sender(void *arg)
{
    atomic_store(&nl.send_goid, gort_goid());
    int64_t v = 1;
    gort_chan_send(NULL, &v);
    atomic_store(&nl.returned, 1);
}

static void nl_receiver(void *arg)
{
    atomic_store(&nl.recv_goid, gort_goid());
    int64_t v;
    gort_chan_recv(NULL, &v);
    atomic_store(&nl.returned, 1);
}

static void test_nil_channel_never_proceeds(void **state)
{
    int64_t v = 5;
    bool ok = true;
    assert_false(gort_chan_trysend(NULL, &v));
    assert_false(gort_chan_tryrecv(NULL, &v, &ok));
    assert_int_equal(gort_chan_len(NULL), 0);
    assert_int_equal(gort_chan_cap(NULL), 0);

    int64_t t0 = gort_nanotime();
    int64_t dl = t0 + 50 * GORT_MS;
    int rc_recv = gort_chan_recv_until(NULL, &v, &ok, dl);
    int64_t t_recv = gort_nanotime();
    dl = t_recv + 50 * GORT_MS;
    int rc_send = gort_chan_send_until(NULL, &v, dl);
    int64_t t_send = gort_nanotime();
    assert_int_equal(rc_recv, -ETIMEDOUT);
    assert_true(gt_deadline_kept(t0 + 50 * GORT_MS, t_recv));
    assert_int_equal(rc_send, -ETIMEDOUT);
    assert_true(gt_deadline_kept(dl, t_send));
    assert_int_equal(gort_chan_recv_until(NULL, &v, &ok, gort_nanotime() - GORT_S), -ETIMEDOUT);

    assert_int_equal(gort_go(nl_sender, NULL), 0);
    assert_int_equal(gort_go(nl_receiver, NULL), 0);
    assert_true(gt_wait_parked(&nl.send_goid, "chan send \\(nil chan\\)"));
    assert_true(gt_wait_parked(&nl.recv_goid, "chan receive \\(nil chan\\)"));
    gort_sleep(20 * GORT_MS);
    assert_int_equal(atomic_load(&nl.returned), 0);
}

/* ---------------------------------------------------------------------
 * Element sizes
 * ------------------------------------------------------------------- */

static struct {
    gort_chan *c;
    int n;
    atomic_int received;
    atomic_int closed_seen;
} zs;

static void zs_receiver(void *arg)
{
    char dummy;
    while (gort_chan_recv(zs.c, &dummy))
        atomic_fetch_add(&zs.received, 1);
    atomic_store(&zs.closed_seen, 1);
}

static void test_zero_size_elements(void **state)
{
    char dummy = 0;
    gort_chan *b = gt_chan_make(0, 3);
    assert_non_null(b);
    assert_int_equal(gort_chan_cap(b), 3);
    for (int i = 0; i < 3; i++)
        assert_true(gort_chan_trysend(b, &dummy));
    assert_false(gort_chan_trysend(b, &dummy));
    assert_int_equal(gort_chan_len(b), 3);
    bool ok = false;
    assert_true(gort_chan_tryrecv(b, NULL, &ok));
    assert_true(ok);
    assert_true(gort_chan_recv(b, &dummy));
    gort_chan_close(b);
    assert_true(gort_chan_recv(b, NULL));
    assert_false(gort_chan_recv(b, NULL));
    assert_int_equal(gort_chan_len(b), 0);

    zs.c = gt_chan_make(0, 0);
    assert_non_null(zs.c);
    zs.n = 1000;
    assert_int_equal(gort_go(zs_receiver, NULL), 0);
    for (int i = 0; i < zs.n; i++)
        gort_chan_send(zs.c, &dummy);
    gort_chan_close(zs.c);
    bool closed = gt_wait_for(atomic_load(&zs.closed_seen) != 0, DONE_TIMEOUT);
    assert_true(closed);
    assert_int_equal(atomic_load(&zs.received), zs.n);
}

struct pair {
    void *p;
    int64_t n;
    void *q;
};

static const size_t pair_ptrs[] = { offsetof(struct pair, p), offsetof(struct pair, q) };
static const gort_type pair_type = { "pair", sizeof(struct pair), 2, pair_ptrs };
static const gort_type huge_type = { "huge", 64 * 1024, 0, NULL };

static void test_typed_channel_copies_whole_elements(void **state)
{
    gort_chan *c = gt_chan_make_typed(&pair_type, 2);
    assert_non_null(c);
    assert_int_equal(gort_chan_cap(c), 2);
    static int x, y;
    struct pair in = { &x, 123456789, &y }, out = { 0 };
    gort_chan_send(c, &in);
    in.n = 5;
    gort_chan_send(c, &in);
    assert_true(gort_chan_recv(c, &out));
    assert_ptr_equal(out.p, &x);
    assert_int_equal(out.n, 123456789);
    assert_ptr_equal(out.q, &y);
    assert_true(gort_chan_recv(c, &out));
    assert_int_equal(out.n, 5);
}

static void test_chan_make_rejects_elements_of_64_kib_or_more(void **state)
{
    errno = 0;
    assert_null(gort_chan_make(64 * 1024, 0));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(gort_chan_make(64 * 1024, 4));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(gort_chan_make(1 << 20, 1));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(gort_chan_make((size_t)-1, 0));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(gort_chan_make_typed(&huge_type, 1));
    assert_int_equal(errno, EINVAL);
    /* A buffer the address space cannot hold. */
    errno = 0;
    assert_null(gort_chan_make(8, SIZE_MAX / 4));
    assert_int_equal(errno, EINVAL);

    /* The largest allowed element works. */
    gort_chan *c = gt_chan_make(64 * 1024 - 1, 1);
    assert_non_null(c);
    char *big = calloc(1, 64 * 1024 - 1), *back = malloc(64 * 1024 - 1);
    assert_non_null(big);
    assert_non_null(back);
    memset(big, 0xa7, 64 * 1024 - 1);
    big[0] = 1;
    big[64 * 1024 - 2] = 2;
    assert_true(gort_chan_trysend(c, big));
    assert_true(gort_chan_recv(c, back));
    assert_memory_equal(big, back, 64 * 1024 - 1);
    free(big);
    free(back);
}

/* ---------------------------------------------------------------------
 * Try variants
 * ------------------------------------------------------------------- */

static struct {
    gort_chan *c;
    atomic_ullong goid;
    atomic_llong got;
    atomic_int done;
} tr;

static void tr_receiver(void *arg)
{
    atomic_store(&tr.goid, gort_goid());
    int64_t v = -1;
    gort_chan_recv(tr.c, &v);
    atomic_store(&tr.got, v);
    atomic_store(&tr.done, 1);
}

static void tr_sender(void *arg)
{
    atomic_store(&tr.goid, gort_goid());
    int64_t v = 31;
    gort_chan_send(tr.c, &v);
    atomic_store(&tr.done, 1);
}

static struct {
    gort_chan *buf, *unbuf;
    int sent, received, handed;
    int64_t got;
    bool ok;
    atomic_int finished;
} trt;

static void *tr_thread(void *arg)
{
    int64_t v = 0;
    trt.sent = gort_chan_trysend(trt.buf, &v);
    trt.received = gort_chan_tryrecv(trt.buf, &trt.got, &trt.ok);
    v = 55;
    trt.handed = gort_chan_trysend(trt.unbuf, &v);
    atomic_store_explicit(&trt.finished, 1, memory_order_release);
    return NULL;
}

static void test_try_variants_never_block(void **state)
{
    /* Nobody on the other side: nothing happens. */
    gort_chan *u = gt_chan_make(sizeof(int64_t), 0);
    int64_t v = 1;
    bool ok = false;
    assert_false(gort_chan_trysend(u, &v));
    assert_false(gort_chan_tryrecv(u, &v, &ok));
    assert_false(gort_chan_tryrecv(u, &v, NULL));

    /* A parked receiver takes a trysend. */
    tr.c = u;
    atomic_store(&tr.goid, 0);
    atomic_store(&tr.done, 0);
    assert_int_equal(gort_go(tr_receiver, NULL), 0);
    assert_true(gt_wait_parked(&tr.goid, "chan receive"));
    v = 29;
    assert_true(gort_chan_trysend(u, &v));
    assert_true(gt_wait_for(atomic_load(&tr.done) != 0, DONE_TIMEOUT));
    assert_int_equal(atomic_load(&tr.got), 29);

    /* A parked sender is taken by a tryrecv. */
    atomic_store(&tr.goid, 0);
    atomic_store(&tr.done, 0);
    assert_int_equal(gort_go(tr_sender, NULL), 0);
    assert_true(gt_wait_parked(&tr.goid, "chan send"));
    v = -1;
    ok = false;
    assert_true(gort_chan_tryrecv(u, &v, &ok));
    assert_true(ok);
    assert_int_equal(v, 31);
    assert_true(gt_wait_for(atomic_load(&tr.done) != 0, DONE_TIMEOUT));

    /* From a thread that is not a goroutine: a buffered channel, and a
     * hand-off to a parked goroutine. */
    trt.buf = gt_chan_make(sizeof(int64_t), 1);
    trt.unbuf = u;
    atomic_store(&tr.goid, 0);
    atomic_store(&tr.done, 0);
    atomic_store(&tr.got, -1);
    assert_int_equal(gort_go(tr_receiver, NULL), 0);
    assert_true(gt_wait_parked(&tr.goid, "chan receive"));
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, tr_thread, NULL), 0);
    bool finished = gt_wait_for(atomic_load_explicit(&trt.finished, memory_order_acquire) != 0,
                                DONE_TIMEOUT);
    if (finished)
        pthread_join(t, NULL);
    assert_true(finished);
    assert_true(trt.sent);
    assert_true(trt.received);
    assert_true(trt.ok);
    assert_int_equal(trt.got, 0);
    assert_true(trt.handed);
    assert_true(gt_wait_for(atomic_load(&tr.done) != 0, DONE_TIMEOUT));
    assert_int_equal(atomic_load(&tr.got), 55);
}

/* ---------------------------------------------------------------------
 * Deadline variants
 * ------------------------------------------------------------------- */

static void test_deadline_variants_time_out_no_earlier_than_the_deadline(void **state)
{
    gort_chan *u = gt_chan_make(sizeof(int64_t), 0);
    gort_chan *full = gt_chan_make(sizeof(int64_t), 1);
    int64_t v = 1;
    gort_chan_send(full, &v);
    const int64_t d = 60 * GORT_MS;

    int64_t t0 = gort_nanotime();
    int rc1 = gort_chan_recv_until(u, &v, NULL, t0 + d);
    int64_t t1 = gort_nanotime();
    int rc2 = gort_chan_send_until(u, &v, t1 + d);
    int64_t t2 = gort_nanotime();
    int rc3 = gort_chan_send_until(full, &v, t2 + d);
    int64_t t3 = gort_nanotime();
    gort_select_case sc[] = {
        { .c = u, .dir = GORT_RECV, .elem = &v },
        { .c = u, .dir = GORT_SEND, .elem = &v },
        { .c = full, .dir = GORT_SEND, .elem = &v },
    };
    int rc4 = gort_select_until(sc, 3, t3 + d);
    int64_t t4 = gort_nanotime();
    int rc5 = gort_select_until(sc, 0, t4 + d);
    int64_t t5 = gort_nanotime();

    print_message("timeouts after %.1f %.1f %.1f %.1f %.1f ms (deadline %.0f ms)\n",
                  (t1 - t0) / 1e6, (t2 - t1) / 1e6, (t3 - t2) / 1e6,
                  (t4 - t3) / 1e6, (t5 - t4) / 1e6, d / 1e6);
    assert_int_equal(rc1, -ETIMEDOUT);
    assert_int_equal(rc2, -ETIMEDOUT);
    assert_int_equal(rc3, -ETIMEDOUT);
    assert_int_equal(rc4, -ETIMEDOUT);
    assert_int_equal(rc5, -ETIMEDOUT);
    assert_true(gt_deadline_kept(t0 + d, t1));
    assert_true(gt_deadline_kept(t1 + d, t2));
    assert_true(gt_deadline_kept(t2 + d, t3));
    assert_true(gt_deadline_kept(t3 + d, t4));
    assert_true(gt_deadline_kept(t4 + d, t5));

    /* The timed-out waiters are gone: nobody is there to hand off to. */
    v = 2;
    assert_false(gort_chan_trysend(u, &v));
    assert_false(gort_chan_tryrecv(u, &v, NULL));
    assert_int_equal(gort_chan_len(full), 1);
}

static void test_deadline_in_the_past_still_succeeds_when_ready(void **state)
{
    gort_chan *b = gt_chan_make(sizeof(int64_t), 2);
    int64_t past = gort_nanotime() - GORT_S, v = 41;
    bool ok = false;
    assert_int_equal(gort_chan_send_until(b, &v, past), 0);
    v = 0;
    assert_int_equal(gort_chan_recv_until(b, &v, &ok, past), 0);
    assert_true(ok);
    assert_int_equal(v, 41);
    v = 42;
    gort_chan_send(b, &v);
    int64_t got = -1;
    gort_select_case sc[] = { { .c = b, .dir = GORT_RECV, .elem = &got } };
    assert_int_equal(gort_select_until(sc, 1, past), 0);
    assert_int_equal(got, 42);
    assert_int_equal(gort_select_until(sc, 1, 0), -ETIMEDOUT);

    /* A parked receiver on an unbuffered channel is ready too. */
    tr.c = gt_chan_make(sizeof(int64_t), 0);
    atomic_store(&tr.goid, 0);
    atomic_store(&tr.done, 0);
    assert_int_equal(gort_go(tr_receiver, NULL), 0);
    assert_true(gt_wait_parked(&tr.goid, "chan receive"));
    v = 43;
    assert_int_equal(gort_chan_send_until(tr.c, &v, past), 0);
    assert_true(gt_wait_for(atomic_load(&tr.done) != 0, DONE_TIMEOUT));
    assert_int_equal(atomic_load(&tr.got), 43);

    /* Not ready and already late: a timeout without waiting. */
    int64_t t0 = gort_nanotime();
    assert_int_equal(gort_chan_recv_until(tr.c, &v, &ok, past), -ETIMEDOUT);
    assert_int_equal(gort_chan_send_until(tr.c, &v, past), -ETIMEDOUT);
    assert_true(gort_nanotime() - t0 < gt_slow(GORT_S));
}

static struct {
    gort_chan *c;
    atomic_int sent;
} dl;

static void dl_late_sender(void *arg)
{
    gort_sleep(20 * GORT_MS);
    int64_t v = 64;
    gort_chan_send(dl.c, &v);
    atomic_store(&dl.sent, 1);
}

static void test_deadline_variant_completes_when_woken_in_time(void **state)
{
    dl.c = gt_chan_make(sizeof(int64_t), 0);
    assert_int_equal(gort_go(dl_late_sender, NULL), 0);
    int64_t v = -1, t0 = gort_nanotime();
    bool ok = false;
    int rc = gort_chan_recv_until(dl.c, &v, &ok, t0 + 30 * GORT_S);
    int64_t dt = gort_nanotime() - t0;
    bool sent = gt_wait_for(atomic_load(&dl.sent) != 0, DONE_TIMEOUT);
    assert_int_equal(rc, 0);
    assert_true(ok);
    assert_int_equal(v, 64);
    assert_true(dt < 20 * GORT_S);
    assert_true(sent);
}

/* ---------------------------------------------------------------------
 * Preemption
 * ------------------------------------------------------------------- */

/* A goroutine that loops on channel operations that never block is still
 * making runtime calls, and every runtime call is a safe point: sysmon's
 * preemption request (after 10 ms) must make it yield, so the other
 * goroutines of its P (here the only P) keep running: a sleeping goroutine
 * wakes in time.  The spinner gives
 * up by itself after SPIN_LIMIT, so that a runtime that never preempts it
 * fails the test instead of hanging it. */
#define SPIN_LIMIT gt_slow(3 * GORT_S)
#define SLEEP_LIMIT gt_slow(GORT_S)

enum { SPIN_TRY, SPIN_BUFFERED, SPIN_CLOSED, SPIN_COUNT };
static const char *const spin_names[SPIN_COUNT] = {
    "trysend/tryrecv", "send/recv on a buffered channel", "recv on a closed channel",
};

static struct {
    gort_chan *buf, *closed;
    atomic_int started;
    atomic_int stop;
    atomic_int done;
    gort_chan *report;           /* the sleeper's 5 ms sleep took this long */
    atomic_long ops;
} sp;

static void sp_spinner(void *arg)
{
    int mode = (int)(intptr_t)arg;
    int64_t give_up = gt_mono_ns() + SPIN_LIMIT;
    int64_t v = 1;
    bool ok;
    long ops = 0;
    atomic_store(&sp.started, 1);
    while (!atomic_load(&sp.stop) && gt_mono_ns() < give_up) {
        switch (mode) {
        case SPIN_TRY:
            gort_chan_trysend(sp.buf, &v);
            gort_chan_tryrecv(sp.buf, &v, &ok);
            break;
        case SPIN_BUFFERED:
            gort_chan_send(sp.buf, &v);
            gort_chan_recv(sp.buf, &v);
            break;
        default:
            gort_chan_recv(sp.closed, &v);
            break;
        }
        ops++;
    }
    atomic_store(&sp.ops, ops);
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

static void test_channel_ops_that_never_block_are_preemption_points(void **state)
{
    gort_gomaxprocs(1);
    sp.buf = gt_chan_make(sizeof(int64_t), 1);
    sp.report = gt_chan_make(2 * sizeof(int64_t), 1);
    sp.closed = gt_chan_make(sizeof(int64_t), 0);
    gort_chan_close(sp.closed);
    int64_t slept[SPIN_COUNT];
    bool done[SPIN_COUNT], spinning[SPIN_COUNT];
    for (int mode = 0; mode < SPIN_COUNT; mode++) {
        atomic_store(&sp.started, 0);
        atomic_store(&sp.stop, 0);
        atomic_store(&sp.done, 0);
        int rc = gort_go(sp_spinner, (void *)(intptr_t)mode);
        int rc2 = gort_go(sp_sleeper, NULL);
        /* Wait on the channel rather than by polling: a main goroutine
         * woken every millisecond might itself get the spinner off the P. */
        int64_t r[2] = { 0, 0 };
        gort_chan_recv_until(sp.report, r, NULL, gort_nanotime() + SPIN_LIMIT + DONE_TIMEOUT);
        slept[mode] = r[0];
        spinning[mode] = r[1] != 0;
        atomic_store(&sp.stop, 1);
        done[mode] = gt_wait_for(atomic_load_explicit(&sp.done, memory_order_acquire) != 0,
                                 DONE_TIMEOUT);
        print_message("%s: a 5 ms sleep took %.1f ms in a goroutine beside the spinner%s\n",
                      spin_names[mode], slept[mode] / 1e6,
                      spinning[mode] ? "" : " (which had given up by then)");
        assert_int_equal(rc, 0);
        assert_int_equal(rc2, 0);
    }
    for (int mode = 0; mode < SPIN_COUNT; mode++) {
        assert_true(done[mode]);
        assert_true(slept[mode] > 0 && slept[mode] < SLEEP_LIMIT);
        assert_true(spinning[mode]);
    }
}

/* ---------------------------------------------------------------------
 * Deadlock detection (subprocess)
 * ------------------------------------------------------------------- */

static void test_goroutines_blocked_on_channels_are_a_deadlock(void **state)
{
    const struct {
        const char *mode;
        const char *main_waits;
    } cases[] = {
        { "recv", "^goroutine 1 \\[chan receive\\]:$" },
        { "pair", "^goroutine 1 \\[chan receive\\]:$" },
        { "select", "^goroutine 1 \\[select\\]:$" },
        { "nil", "^goroutine 1 \\[chan receive \\(nil chan\\)\\]:$" },
        { "nocases", "^goroutine 1 \\[select \\(no cases\\)\\]:$" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *const args[] = { cases[i].mode, NULL };
        gt_proc r;
        gt_run("chanblock", args, NULL, HELPER_TIMEOUT, &r);

        print_message("mode %s\n", cases[i].mode);
        GT_ASSERT_PROC(gt_exited_with(&r, 2), &r);
        GT_ASSERT_PROC(gt_matches(r.err, "^fatal error: all goroutines are asleep - deadlock!$"), &r);
        GT_ASSERT_PROC(gt_matches(r.err, cases[i].main_waits), &r);
        GT_ASSERT_PROC(!gt_matches(r.out, "returned"), &r);
        if (strcmp(cases[i].mode, "pair") == 0) {
            regmatch_t m[2];
            bool have = gt_regex_search(r.out, "^sender goroutine ([0-9]+)$", m, 2);
            char pat[96];
            snprintf(pat, sizeof pat, "^goroutine %lld \\[chan send\\]:$",
                     have ? gt_submatch_ll(r.out, m[1]) : -1LL);
            GT_ASSERT_PROC(have, &r);
            GT_ASSERT_PROC(gt_matches(r.err, pat), &r);
        }
        gt_proc_free(&r);
    }
}

static void test_channel_waits_with_deadlines_are_not_a_deadlock(void **state)
{
    const char *const args[] = { "until", NULL };
    gt_proc r;
    gt_run("chanblock", args, NULL, HELPER_TIMEOUT, &r);

    GT_ASSERT_PROC(gt_exited_with(&r, 0), &r);
    GT_ASSERT_PROC(gt_matches(r.out, "^timed out 0$"), &r);
    GT_ASSERT_PROC(gt_matches(r.out, "^timed out 1$"), &r);
    GT_ASSERT_PROC(gt_matches(r.out, "^timed out 2$"), &r);
    GT_ASSERT_PROC(!gt_matches(r.err, "fatal error"), &r);
    gt_proc_free(&r);
}

/* ---------------------------------------------------------------------
 * Suite
 * ------------------------------------------------------------------- */

#define T(f) cmocka_unit_test_setup_teardown(f, gt_save_knobs, gt_restore_knobs)

static void run_all(void *arg)
{
    const struct CMUnitTest tests[] = {
        T(test_unbuffered_send_waits_for_a_receiver_and_hands_off),
        T(test_unbuffered_values_arrive_in_send_order),
        T(test_blocked_senders_are_served_in_arrival_order),
        T(test_blocked_senders_on_full_buffer_queue_behind_it_in_order),
        T(test_blocked_receivers_are_served_in_arrival_order),
        T(test_buffered_channel_is_a_fifo_ring_with_len_and_cap),
        T(test_buffered_send_goes_straight_to_a_waiting_receiver),
        T(test_close_wakes_every_blocked_receiver_with_zero_value),
        T(test_close_makes_every_blocked_sender_panic),
        T(test_closed_buffered_channel_drains_before_reporting_closed),
        T(test_close_wakes_waiters_with_deadlines_at_once),
        T(test_send_on_closed_channel_panics),
        T(test_close_of_closed_and_of_nil_channel_panic),
        T(test_nil_channel_never_proceeds),
        T(test_zero_size_elements),
        T(test_typed_channel_copies_whole_elements),
        T(test_chan_make_rejects_elements_of_64_kib_or_more),
        T(test_try_variants_never_block),
        T(test_deadline_variants_time_out_no_earlier_than_the_deadline),
        T(test_deadline_in_the_past_still_succeeds_when_ready),
        T(test_deadline_variant_completes_when_woken_in_time),
        T(test_channel_ops_that_never_block_are_preemption_points),
        T(test_goroutines_blocked_on_channels_are_a_deadlock),
        T(test_channel_waits_with_deadlines_are_not_a_deadlock),
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
    return gt_main("test_chan", run_all);
}
