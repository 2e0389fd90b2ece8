import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseNetDev } from './stats.js';

test('parseNetDev: every interface but loopback, in Docker stats shape', () => {
  const text = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     120       2    0    0    0     0          0         0      120       2    0    0    0     0       0          0
  eth0: 5308       41    1    2    0     0          0         0     1530      19    3    4    0     0       0          0
garbage line
`;
  assert.deepEqual(parseNetDev(text), {
    eth0: {
      rx_bytes: 5308,
      rx_packets: 41,
      rx_errors: 1,
      rx_dropped: 2,
      tx_bytes: 1530,
      tx_packets: 19,
      tx_errors: 3,
      tx_dropped: 4,
    },
  });
  assert.deepEqual(parseNetDev(''), {});
});
