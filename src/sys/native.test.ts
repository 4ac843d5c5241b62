import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EFD_NONBLOCK, EPOLLET, EPOLLIN, EPOLL_CTL_ADD, check, native } from './native.js';

test('epoll: EPOLLET (bit 31) passes through the addon: an edge is reported once, a level until drained', () => {
  const n = native();
  const epfd = check(n.epollCreate(), 'epoll_create');
  const edge = check(n.eventfd(0, EFD_NONBLOCK), 'eventfd');
  const level = check(n.eventfd(0, EFD_NONBLOCK), 'eventfd');
  try {
    check(n.epollCtl(epfd, EPOLL_CTL_ADD, edge, (EPOLLIN | EPOLLET) >>> 0, 1), 'epoll_ctl edge');
    check(n.epollCtl(epfd, EPOLL_CTL_ADD, level, EPOLLIN, 2), 'epoll_ctl level');
    n.eventfdWrite(edge, 1);
    n.eventfdWrite(level, 1);
    const events = new Uint32Array(8 * 2);
    const tags = (count: number) => Array.from({ length: count }, (_, i) => events[i * 2 + 1]).sort();
    assert.deepEqual(tags(n.epollWait(epfd, events, 0)), [1, 2]);
    // Neither fd was read: only the level-triggered one is reported again.
    assert.deepEqual(tags(n.epollWait(epfd, events, 0)), [2]);
    // A new write is a new edge.
    n.eventfdWrite(edge, 1);
    assert.deepEqual(tags(n.epollWait(epfd, events, 0)), [1, 2]);
  } finally {
    n.close(edge);
    n.close(level);
    n.close(epfd);
  }
});
