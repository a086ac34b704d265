// A kafkajs 2.2.4 group member for odradek's interop tests (tests/interop/test_groups_*.py).
//
//   node member.js '{"bootstrap": "127.0.0.1:9092", "topic": "t", "group": "g", "name": "m",
//                    "session_ms": 3000, "heartbeat_ms": 500, "limit": null,
//                    "exit_at_limit": false}'
//
// It subscribes from the beginning with auto commit off, commits every batch synchronously
// (commitOffsets, the next offset after each partition's last record) and reports on
// stdout, one JSON object a line, the same events as the Python members of
// test_groups_members.py: ready, assigned / assign (GROUP_JOIN), revoke (REBALANCING),
// consumed, committed, commit_failed, limit, closed, error.  It stops cleanly
// (disconnect: LeaveGroup) on the line "close" on stdin or at end of stdin, or, when
// exit_at_limit is set, after `limit` committed records (stdin is then ignored).
// kafkajs logs go to stderr as JSON lines.  kafkajs is resolved through NODE_PATH (the
// tests install it once into a cache outside the package).
'use strict'

const { Kafka, logLevel } = require('kafkajs')

const config = JSON.parse(process.argv[2])
const emit = (kind, fields = {}) => process.stdout.write(JSON.stringify({ e: kind, ...fields }) + '\n')

const kafka = new Kafka({
  clientId: config.name,
  brokers: [config.bootstrap],
  logLevel: logLevel.INFO,
  logCreator: () => ({ namespace, label, log }) => {
    const { timestamp, message, ...rest } = log
    process.stderr.write(JSON.stringify({ timestamp, level: label, namespace, message, ...rest }) + '\n')
  },
})
const consumer = kafka.consumer({
  groupId: config.group,
  sessionTimeout: config.session_ms,
  heartbeatInterval: config.heartbeat_ms,
  maxWaitTimeInMs: 200, // kafkajs heartbeats between fetches: keep them short
})

let committedCount = 0
let stopping = null

const stop = () => {
  if (stopping === null) {
    stopping = (async () => {
      try {
        await consumer.disconnect()
      } catch (error) {
        emit('error', { error: String(error) })
      }
      emit('closed')
      process.exit(0)
    })()
  }
  return stopping
}

consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
  const partitions = (payload.memberAssignment[config.topic] || []).slice().sort((a, b) => a - b)
  emit('assign', { partitions, member_id: payload.memberId, leader: payload.isLeader })
  emit('assigned', { partitions })
})
consumer.on(consumer.events.REBALANCING, () => emit('revoke', { partitions: [] }))
consumer.on(consumer.events.CRASH, ({ payload }) =>
  emit('error', { error: String(payload.error), restart: payload.restart })
)

const eachBatch = async ({ batch }) => {
  const records = batch.messages.map((m) => [batch.partition, Number(m.offset), m.value.toString()])
  if (records.length === 0 || stopping !== null) return
  emit('consumed', { records })
  const take = config.limit === null ? records : records.slice(0, Math.max(config.limit - committedCount, 0))
  if (take.length === 0) return
  const next = take[take.length - 1][1] + 1
  try {
    await consumer.commitOffsets([{ topic: config.topic, partition: batch.partition, offset: String(next) }])
  } catch (error) {
    emit('commit_failed', { error: String(error) })
    return
  }
  committedCount += take.length
  emit('committed', { records: take })
  if (config.limit !== null && committedCount >= config.limit) {
    emit('limit')
    if (config.exit_at_limit) stop()
  }
}

const main = async () => {
  await consumer.connect()
  await consumer.subscribe({ topics: [config.topic], fromBeginning: true })
  await consumer.run({ autoCommit: false, eachBatch })
  emit('ready')
}

if (!config.exit_at_limit) {
  // A run-to-the-limit member may have no stdin; the others stop when told or orphaned.
  let input = ''
  process.stdin.on('data', (chunk) => {
    input += chunk
    if (input.split('\n').some((line) => line.trim() === 'close')) stop()
  })
  process.stdin.on('end', stop)
}

main().catch((error) => {
  emit('error', { error: String(error), stack: error.stack })
  process.exit(1)
})
