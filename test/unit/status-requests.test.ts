import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MasterMessage } from '../../src/ipc/messages.js';
import { REPORT_WAIT_MS, StatusRequests } from '../../src/master/status-requests.js';
import type { WorkerHandle } from '../../src/master/worker-handle.js';

/** A stand-in for a worker handle: its state, and the messages the master sent it. */
function fakeWorker(id: number, state = 'ready') {
  const sent: MasterMessage[] = [];
  const handle = { id, state, send: (message: MasterMessage) => sent.push(message) } as unknown as WorkerHandle;
  return { handle, sent };
}

function askedId(sent: MasterMessage[]): number {
  const [message] = sent;
  assert.equal(message?.type, 'report-request');
  return (message as Extract<MasterMessage, { type: 'report-request' }>).id;
}

test('status requests: done as soon as every worker answered, once, with the workers that did', () => {
  const requests = new StatusRequests();
  const [a, b] = [fakeWorker(1), fakeWorker(2)];
  const calls: ReadonlySet<WorkerHandle>[] = [];
  requests.ask([a.handle, b.handle], (answered) => calls.push(answered));
  const id = askedId(a.sent);
  assert.equal(askedId(b.sent), id);
  requests.answered(a.handle, id);
  requests.answered(a.handle, id);
  assert.equal(calls.length, 0, 'still waiting for worker 2');
  requests.answered(b.handle, id + 1);
  assert.equal(calls.length, 0, 'an answer to another request does not count');
  requests.answered(b.handle, id);
  assert.deepEqual(
    calls.map((answered) => [...answered]),
    [[a.handle, b.handle]],
  );
  requests.answered(b.handle, id);
  assert.equal(calls.length, 1);
});

test('status requests: a worker that does not answer is left out after REPORT_WAIT_MS; an exited one at once', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const requests = new StatusRequests();
  const [a, silent, leaving] = [fakeWorker(1), fakeWorker(2), fakeWorker(3)];
  const gone = fakeWorker(4, 'exited');
  const calls: ReadonlySet<WorkerHandle>[] = [];
  requests.ask([a.handle, silent.handle, leaving.handle, gone.handle], (answered) => calls.push(answered));
  assert.equal(gone.sent.length, 0, 'an exited worker is not asked');
  const id = askedId(a.sent);
  requests.answered(a.handle, id);
  requests.forget(leaving.handle);
  t.mock.timers.tick(REPORT_WAIT_MS - 1);
  assert.equal(calls.length, 0);
  t.mock.timers.tick(1);
  assert.deepEqual(
    calls.map((answered) => [...answered]),
    [[a.handle]],
  );

  // Only a worker that exits while asked: the request is done when it goes.
  requests.ask([silent.handle], (answered) => calls.push(answered));
  requests.forget(silent.handle);
  assert.equal(calls.length, 2);
  assert.equal(calls[1]?.size, 0);
  // No workers at all: done at once, nothing sent.
  requests.ask([], (answered) => calls.push(answered));
  assert.equal(calls.length, 3);
});
