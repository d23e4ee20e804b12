// KafkaJS over TLS and SASL: reads a JSON list of cases on stdin, runs them side by side
// and prints one JSON object, case name -> {ok, values} or {ok: false, error, message}.
// A case: {name, bootstrap, topic, count, ssl: {ca, cert?, key?} | null,
//          sasl: {mechanism, username, password} | {mechanism: 'oauthbearer', token} | null}
// Each case produces `count` records ("m0".."m<count-1>") and consumes them back in a
// group of its own. A failed login is reported, not retried (retries: 0).
const fs = require('fs')
const { Kafka, logLevel } = require('kafkajs')

function clientConfig (c) {
  const config = {
    clientId: `kafkajs-${c.name}`,
    brokers: [c.bootstrap],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 10000,
    retry: { retries: c.retries === undefined ? 5 : c.retries }
  }
  if (c.ssl) {
    config.ssl = { ca: [fs.readFileSync(c.ssl.ca, 'utf-8')] }
    if (c.ssl.cert) {
      config.ssl.cert = fs.readFileSync(c.ssl.cert, 'utf-8')
      config.ssl.key = fs.readFileSync(c.ssl.key, 'utf-8')
    }
  }
  if (c.sasl) {
    if (c.sasl.mechanism === 'oauthbearer') {
      config.sasl = { mechanism: 'oauthbearer', oauthBearerProvider: async () => ({ value: c.sasl.token }) }
    } else {
      config.sasl = c.sasl
    }
  }
  return config
}

async function roundtrip (c) {
  const kafka = new Kafka(clientConfig(c))
  const producer = kafka.producer({ allowAutoTopicCreation: true })
  await producer.connect()
  const messages = []
  for (let i = 0; i < c.count; i++) messages.push({ value: `m${i}` })
  await producer.send({ topic: c.topic, messages })
  await producer.disconnect()

  const consumer = kafka.consumer({ groupId: `g-${c.topic}` })
  await consumer.connect()
  await consumer.subscribe({ topic: c.topic, fromBeginning: true })
  const values = []
  try {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out, saw ${JSON.stringify(values)}`)), 60000)
      consumer.run({
        eachMessage: async ({ message }) => {
          values.push(message.value.toString())
          if (values.length === c.count) { clearTimeout(timer); resolve() }
        }
      }).catch(reject)
    })
  } finally {
    await consumer.disconnect()
  }
  return values
}

async function main () {
  const cases = JSON.parse(fs.readFileSync(0, 'utf-8'))
  const results = {}
  await Promise.all(cases.map(async (c) => {
    try {
      results[c.name] = { ok: true, values: await roundtrip(c) }
    } catch (e) {
      results[c.name] = { ok: false, error: e.name, message: e.message }
    }
  }))
  console.log(JSON.stringify(results))
}

main().catch((e) => { console.error(e); process.exit(1) })
