// KafkaJS transactions against a broker: argv: bootstrap topic group.
// Commits, aborts and commits again (the last with offsets sent to the transaction),
// then reads the topic read_committed and prints what it saw as JSON.
const { Kafka, logLevel } = require('kafkajs')

async function main () {
  const [bootstrap, topic, group] = process.argv.slice(2)
  const kafka = new Kafka({ clientId: 'kafkajs-compat', brokers: [bootstrap], logLevel: logLevel.WARN })
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })

  const producer = kafka.producer({ transactionalId: `${topic}-txn`, maxInFlightRequests: 1, idempotent: true })
  await producer.connect()
  let txn = await producer.transaction()
  await txn.send({ topic, messages: [{ key: 'k', value: 'committed-1' }, { key: 'k', value: 'committed-2' }] })
  await txn.commit()
  txn = await producer.transaction()
  await txn.send({ topic, messages: [{ key: 'k', value: 'aborted-1' }] })
  await txn.abort()
  txn = await producer.transaction()
  await txn.send({ topic, messages: [{ key: 'k', value: 'committed-3' }] })
  await txn.sendOffsets({ consumerGroupId: group, topics: [{ topic, partitions: [{ partition: 0, offset: '2' }] }] })
  await txn.commit()
  await producer.disconnect()

  const consumer = kafka.consumer({ groupId: `${group}-reader`, readUncommitted: false })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const seen = []
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out, saw ${JSON.stringify(seen)}`)), 60000)
    consumer.run({
      eachMessage: async ({ message }) => {
        seen.push(message.value.toString())
        if (message.value.toString() === 'committed-3') { clearTimeout(timer); resolve() }
      }
    }).catch(reject)
  })
  await consumer.disconnect()
  const offsets = await admin.fetchOffsets({ groupId: group, topics: [topic] })
  await admin.disconnect()
  console.log(JSON.stringify({ seen, committed: offsets[0].partitions.map(p => [p.partition, p.offset]) }))
}

main().catch(err => { console.error(err); process.exit(1) })
