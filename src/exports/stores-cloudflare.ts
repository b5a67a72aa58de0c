// `mpp-session-gateway/stores/cloudflare`: the store on Cloudflare Durable Objects (export the classes from your Worker).
export {
  ChannelObject,
  type DurableObjectStoreEnv,
  type DurableObjectStoreOptions,
  durableObjectStore,
  KeyShard,
} from '../stores/durable-object.js'
