// `mpp-session-gateway/stores/cloudflare`: the store on Cloudflare Durable Objects (export the classes from your Worker).
export { ChannelObject, KeyShard } from '../stores/cloudflare/objects.js'
export { type DurableObjectStoreEnv, type DurableObjectStoreOptions, durableObjectStore } from '../stores/cloudflare/store.js'
