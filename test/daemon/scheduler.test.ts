import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { Scheduler, type SchedulerClass, type Ticket } from "../../server/src/daemon/scheduler.ts";

const job = (jobClass: SchedulerClass, client = 1, document?: string): { class: SchedulerClass; client: number; payload: string; document?: string } => ({
  class: jobClass,
  client,
  payload: `${jobClass}${document === undefined ? "" : `:${document}`}`,
  ...(document === undefined ? {} : { document }),
});

function accepted<T>(outcome: ReturnType<Scheduler<T>["submit"]>): Extract<typeof outcome, { accepted: true }> {
  assert.ok(outcome.accepted, "the job was refused");
  return outcome;
}

/** Takes and finishes jobs until the queue is empty, returning their payloads in run order. */
function drainOrder(scheduler: Scheduler<string>, now: number): string[] {
  const order: string[] = [];
  for (let ticket = scheduler.take(now); ticket !== undefined; ticket = scheduler.take(now)) {
    order.push(ticket.payload);
    scheduler.finish(ticket);
  }
  return order;
}

void describe("Scheduler", () => {
  void test("runs interactive generation before inline completion before batch jobs", () => {
    const scheduler = new Scheduler<string>();
    scheduler.submit(job("batch"), 0);
    scheduler.submit(job("inline", 1, "a"), 0);
    scheduler.submit(job("interactive"), 0);
    assert.deepEqual(drainOrder(scheduler, 0), ["interactive", "inline:a", "batch"]);
  });

  void test("a pair load runs before everything that waits", () => {
    const scheduler = new Scheduler<string>();
    scheduler.submit(job("interactive"), 0);
    scheduler.submit(job("load"), 5);
    assert.deepEqual(drainOrder(scheduler, 5), ["load", "interactive"]);
  });

  void test("equally urgent jobs run first come, first served", () => {
    const scheduler = new Scheduler<string>();
    for (const [i, name] of ["a", "b", "c"].entries()) scheduler.submit({ class: "interactive", client: 1, payload: name }, i);
    assert.deepEqual(drainOrder(scheduler, 3), ["a", "b", "c"]);
  });

  void test("only one job runs at a time", () => {
    const scheduler = new Scheduler<string>();
    scheduler.submit(job("interactive"), 0);
    scheduler.submit(job("interactive"), 0);
    const first = scheduler.take(0)!;
    assert.equal(scheduler.take(0), undefined);
    scheduler.finish(first);
    assert.notEqual(scheduler.take(0), undefined);
  });

  void test("a waiting batch job ages past a stream of fresh interactive jobs (no starvation)", () => {
    const scheduler = new Scheduler<string>({ agingMs: 1000 });
    scheduler.submit({ class: "batch", client: 1, payload: "old batch" }, 0);
    const order: string[] = [];
    // Every 500 ms a new interactive request arrives and the previous job finishes.
    for (let now = 0; now <= 5000; now += 500) {
      scheduler.submit({ class: "interactive", client: 2, payload: `interactive@${now}` }, now);
      const ticket = scheduler.take(now)!;
      order.push(ticket.payload);
      scheduler.finish(ticket);
    }
    const at = order.indexOf("old batch");
    assert.ok(at !== -1 && at <= 4, `the batch job ran at position ${at}: ${order.join(", ")}`);
  });

  void test("a newer inline request supersedes the same client's queued request for the same document", () => {
    const scheduler = new Scheduler<string>();
    const first = accepted(scheduler.submit(job("inline", 1, "a"), 0));
    const other = accepted(scheduler.submit(job("inline", 1, "b"), 0));
    const otherClient = accepted(scheduler.submit(job("inline", 2, "a"), 0));
    const second = accepted(scheduler.submit(job("inline", 1, "a"), 1));
    assert.deepEqual(second.supersededQueued.map((t) => t.id), [first.ticket.id]);
    assert.equal(second.supersededRunning, undefined);
    assert.deepEqual(scheduler.queued.map((t) => t.id).sort(), [other.ticket.id, otherClient.ticket.id, second.ticket.id].sort());
  });

  void test("a newer inline request reports the running request for the same document as superseded", () => {
    const scheduler = new Scheduler<string>();
    const first = accepted(scheduler.submit(job("inline", 1, "a"), 0));
    scheduler.take(0);
    const second = accepted(scheduler.submit(job("inline", 1, "a"), 1));
    assert.equal(second.supersededRunning?.id, first.ticket.id);
    assert.equal(scheduler.running?.id, first.ticket.id, "the scheduler does not abort: the runner does");
  });

  void test("non-inline jobs never supersede anything", () => {
    const scheduler = new Scheduler<string>();
    scheduler.submit(job("interactive"), 0);
    const outcome = accepted(scheduler.submit(job("interactive"), 0));
    assert.equal(outcome.supersededQueued.length, 0);
    assert.equal(scheduler.depth, 2);
  });

  void test("a full queue refuses new jobs with its depth instead of growing", () => {
    const scheduler = new Scheduler<string>({ capacity: 3 });
    for (let i = 0; i < 3; i++) accepted(scheduler.submit(job("interactive"), 0));
    const refused = scheduler.submit(job("interactive"), 0);
    assert.deepEqual(refused, { accepted: false, queueDepth: 3 });
    assert.equal(scheduler.depth, 3);
  });

  void test("a superseding inline request still fits a full queue: it replaces the one it supersedes", () => {
    const scheduler = new Scheduler<string>({ capacity: 2 });
    accepted(scheduler.submit(job("inline", 1, "a"), 0));
    accepted(scheduler.submit(job("inline", 1, "b"), 0));
    const outcome = accepted(scheduler.submit(job("inline", 1, "a"), 1));
    assert.equal(outcome.supersededQueued.length, 1);
    assert.equal(scheduler.depth, 2);
  });

  void test("among equally urgent inline requests, the document decoded last goes first (KV-cache affinity)", () => {
    const scheduler = new Scheduler<string>();
    scheduler.submit(job("inline", 1, "a"), 0);
    const ticket = scheduler.take(0)!;
    scheduler.submit(job("inline", 2, "b"), 1);
    scheduler.submit(job("inline", 1, "a"), 2);
    scheduler.finish(ticket);
    assert.deepEqual(drainOrder(scheduler, 2), ["inline:a", "inline:b"]);
  });

  void test("affinity never outranks priority", () => {
    const scheduler = new Scheduler<string>();
    scheduler.submit(job("inline", 1, "a"), 0);
    scheduler.finish(scheduler.take(0)!);
    scheduler.submit(job("inline", 1, "a"), 1);
    scheduler.submit(job("interactive", 2), 1);
    assert.deepEqual(drainOrder(scheduler, 1), ["interactive", "inline:a"]);
  });

  void test("a disconnected client's queued jobs are removed", () => {
    const scheduler = new Scheduler<string>();
    scheduler.submit(job("interactive", 1), 0);
    scheduler.submit(job("batch", 2), 0);
    scheduler.submit(job("inline", 1, "a"), 0);
    assert.deepEqual(scheduler.removeClient(1).map((t) => t.client), [1, 1]);
    assert.deepEqual(scheduler.queued.map((t) => t.client), [2]);
  });

  void test("a cancelled queued job is removed by id; a job that is not queued is not", () => {
    const scheduler = new Scheduler<string>();
    const a = accepted(scheduler.submit(job("interactive"), 0));
    const b = accepted(scheduler.submit(job("interactive"), 0));
    scheduler.take(0);
    assert.equal(scheduler.remove(a.ticket.id), undefined);
    assert.equal(scheduler.remove(b.ticket.id)?.id, b.ticket.id);
    assert.equal(scheduler.depth, 0);
  });

  void test("property: every accepted job runs exactly once or is removed, never both", () => {
    const action = fc.oneof(
      fc.record({ kind: fc.constant("submit" as const), jobClass: fc.constantFrom<SchedulerClass>("interactive", "inline", "batch", "load"), client: fc.integer({ min: 1, max: 3 }), document: fc.constantFrom("a", "b", undefined) }),
      fc.record({ kind: fc.constant("run" as const) }),
      fc.record({ kind: fc.constant("cancel" as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant("disconnect" as const), client: fc.integer({ min: 1, max: 3 }) }),
    );
    fc.assert(
      fc.property(fc.array(action, { maxLength: 60 }), fc.integer({ min: 1, max: 8 }), (actions, capacity) => {
        const scheduler = new Scheduler<number>({ capacity, agingMs: 100 });
        const fate = new Map<number, string[]>();
        const note = (ticket: Ticket<number>, what: string): void => void fate.set(ticket.id, [...(fate.get(ticket.id) ?? []), what]);
        let now = 0;
        let running: Ticket<number> | undefined;
        for (const a of actions) {
          now += 37;
          if (a.kind === "submit") {
            const outcome = scheduler.submit({ class: a.jobClass, client: a.client, payload: 0, ...(a.document === undefined ? {} : { document: a.document }) }, now);
            if (!outcome.accepted) {
              assert.equal(outcome.queueDepth, capacity);
              continue;
            }
            fate.set(outcome.ticket.id, []);
            for (const old of outcome.supersededQueued) note(old, "superseded");
            assert.ok(scheduler.depth <= capacity);
          } else if (a.kind === "run") {
            if (running !== undefined) scheduler.finish(running);
            running = scheduler.take(now);
            if (running !== undefined) note(running, "ran");
          } else if (a.kind === "cancel") {
            const queued = scheduler.queued;
            const victim = queued.length === 0 ? undefined : queued[a.pick % queued.length];
            if (victim !== undefined) note(scheduler.remove(victim.id)!, "cancelled");
          } else {
            for (const ticket of scheduler.removeClient(a.client)) note(ticket, "disconnected");
          }
        }
        if (running !== undefined) scheduler.finish(running);
        for (const ticket of drainOrderTickets(scheduler, now)) note(ticket, "ran");
        for (const [id, events] of fate) assert.equal(events.length, 1, `job ${id}: ${events.join(", ") || "never ran"}`);
      }),
      { numRuns: 300 },
    );
  });
});

function drainOrderTickets<T>(scheduler: Scheduler<T>, now: number): Ticket<T>[] {
  const tickets: Ticket<T>[] = [];
  for (let ticket = scheduler.take(now); ticket !== undefined; ticket = scheduler.take(now)) {
    tickets.push(ticket);
    scheduler.finish(ticket);
  }
  return tickets;
}
