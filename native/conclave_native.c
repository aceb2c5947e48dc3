/*
 * Conclave's optional native send path for the relay's lean forwarder (src/server/srtp-output.ts).
 *
 * One call protects an RTP packet with AEAD_AES_128_GCM (RFC 7714 §8) under a subscriber's SRTP
 * session keys and hands the datagram to the kernel with one sendmsg(2) on the UDP socket werift
 * opened for that subscriber's ICE pair. The JavaScript path does the same with a table-driven
 * GHASH in JavaScript and dgram.send() (a DNS-lookup tick, a send request and a completion
 * callback per datagram); here the GCM runs in OpenSSL (AES-NI, carry-less multiply) and nothing
 * is allocated per packet.
 *
 * It is built by scripts/build-native.mjs against the Node-API headers that ship with Node, and
 * links to nothing: the OpenSSL symbols come from the node binary that loads it. When it is missing
 * the relay uses the JavaScript path, which produces the same bytes (test/server/native.test.ts).
 *
 * Keys live in an OpenSSL context owned by a JavaScript external; the finalizer frees it (which
 * wipes the expanded key) and wipes the salt.
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define RTP_HEADER_BYTES 12
#define GCM_TAG_BYTES 16
#define GCM_IV_BYTES 12
#define GCM_KEY_BYTES 16
/*
 * Largest packet sealed or opened here (a stack buffer): an MTU-sized packet is far below this. Longer
 * ones are refused; the callers take those through their JavaScript paths (src/media/native.ts).
 */
#define MAX_PACKET_BYTES 2048

typedef struct {
  EVP_CIPHER_CTX *ctx;
  uint8_t salt[GCM_IV_BYTES];
  /* Opens (decrypts) instead of sealing. */
  bool open;
} gcm_context;

typedef struct {
  struct sockaddr_storage addr;
  socklen_t length;
  /* The descriptor connect()ed to this address by connectTarget (−1: none): send(2) without an address on it. */
  int connected_fd;
} target;

/*
 * Every handle is a JavaScript external tagged with its kind, so a handle of one kind passed where
 * another is expected (or any other external) is refused instead of being misread.
 */
static const napi_type_tag GCM_CONTEXT_TAG = {0x636f6e636c617665ULL, 0x67636d2d63747831ULL};
static const napi_type_tag TARGET_TAG = {0x636f6e636c617665ULL, 0x7461726765743031ULL};
static const napi_type_tag AEAD_KEY_TAG = {0x636f6e636c617665ULL, 0x616561642d6b6579ULL};

/* An external of kind `tag`, or NULL. */
static void *unwrap(napi_env env, napi_value value, const napi_type_tag *tag) {
  napi_valuetype type;
  bool tagged = false;
  void *data = NULL;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_external) return NULL;
  if (napi_check_object_type_tag(env, value, tag, &tagged) != napi_ok || !tagged) return NULL;
  if (napi_get_value_external(env, value, &data) != napi_ok) return NULL;
  return data;
}

/* Wraps `data` in an external of kind `tag`; on failure frees it with `finalize` and returns NULL. */
static napi_value wrap(napi_env env, void *data, napi_finalize finalize, const napi_type_tag *tag) {
  napi_value result;
  if (napi_create_external(env, data, finalize, NULL, &result) != napi_ok) {
    finalize(env, data, NULL);
    return NULL;
  }
  if (napi_type_tag_object(env, result, tag) != napi_ok) return NULL;
  return result;
}

static napi_value throw_error(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

static int get_args(napi_env env, napi_callback_info info, size_t expected, napi_value *argv) {
  size_t argc = expected;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < expected) return 0;
  return 1;
}

static int get_u32(napi_env env, napi_value value, uint32_t *out) {
  return napi_get_value_uint32(env, value, out) == napi_ok;
}

static int get_i32(napi_env env, napi_value value, int32_t *out) {
  return napi_get_value_int32(env, value, out) == napi_ok;
}

static int get_bytes(napi_env env, napi_value value, uint8_t **data, size_t *length) {
  bool is_typed = false;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed) return 0;
  napi_typedarray_type type;
  void *base = NULL;
  napi_value buffer;
  size_t offset = 0;
  if (napi_get_typedarray_info(env, value, &type, length, &base, &buffer, &offset) != napi_ok) return 0;
  if (type != napi_uint8_array) return 0;
  *data = (uint8_t *)base;
  return 1;
}

static void free_context(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  gcm_context *c = (gcm_context *)data;
  EVP_CIPHER_CTX_free(c->ctx);
  OPENSSL_cleanse(c->salt, sizeof c->salt);
  free(c);
}

static void free_target(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

/*
 * gcmContext(key: Uint8Array(16), salt: Uint8Array(>= 12), open?: boolean): external. A context
 * either seals (protects outgoing packets) or opens (checks and decrypts incoming ones).
 */
static napi_value gcm_context_new(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  uint8_t *key, *salt;
  size_t key_length, salt_length;
  size_t argc = 3;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 || !get_bytes(env, argv[0], &key, &key_length) ||
      !get_bytes(env, argv[1], &salt, &salt_length))
    return throw_error(env, "gcmContext(key, salt): two Uint8Arrays expected");
  bool open = false;
  if (argc > 2 && napi_get_value_bool(env, argv[2], &open) != napi_ok) open = false;
  if (key_length != GCM_KEY_BYTES || salt_length < GCM_IV_BYTES)
    return throw_error(env, "gcmContext: a 16-byte key and a 12-byte salt expected");
  gcm_context *c = (gcm_context *)calloc(1, sizeof *c);
  if (!c) return throw_error(env, "gcmContext: out of memory");
  c->ctx = EVP_CIPHER_CTX_new();
  c->open = open;
  if (!c->ctx || EVP_CipherInit_ex(c->ctx, EVP_aes_128_gcm(), NULL, NULL, NULL, open ? 0 : 1) != 1 ||
      EVP_CIPHER_CTX_ctrl(c->ctx, EVP_CTRL_GCM_SET_IVLEN, GCM_IV_BYTES, NULL) != 1 ||
      EVP_CipherInit_ex(c->ctx, NULL, NULL, key, NULL, open ? 0 : 1) != 1) {
    if (c->ctx) EVP_CIPHER_CTX_free(c->ctx);
    free(c);
    return throw_error(env, "gcmContext: OpenSSL refused the key");
  }
  memcpy(c->salt, salt, GCM_IV_BYTES);
  napi_value result = wrap(env, c, free_context, &GCM_CONTEXT_TAG);
  return result ? result : throw_error(env, "gcmContext: cannot create the handle");
}

/* target(host: string, port: number): external | null (null when host is not an IP address) */
static napi_value target_new(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char host[64];
  size_t host_length = 0;
  uint32_t port = 0;
  if (!get_args(env, info, 2, argv) ||
      napi_get_value_string_utf8(env, argv[0], host, sizeof host, &host_length) != napi_ok ||
      !get_u32(env, argv[1], &port) || port == 0 || port > 65535)
    return throw_error(env, "target(host, port): an IP address and a port expected");
  /* Not an address when cut short by the buffer or by a NUL inside the string (inet_pton would read a prefix). */
  if (host_length >= sizeof host - 1 || strlen(host) != host_length) {
    napi_value null_value;
    napi_get_null(env, &null_value);
    return null_value;
  }
  target *t = (target *)calloc(1, sizeof *t);
  if (!t) return throw_error(env, "target: out of memory");
  t->connected_fd = -1;
  struct sockaddr_in *v4 = (struct sockaddr_in *)&t->addr;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&t->addr;
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    t->length = sizeof *v4;
  } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    t->length = sizeof *v6;
  } else {
    free(t);
    napi_value null_value;
    napi_get_null(env, &null_value);
    return null_value;
  }
  napi_value result = wrap(env, t, free_target, &TARGET_TAG);
  return result ? result : throw_error(env, "target: cannot create the handle");
}

/*
 * RFC 7714 §8: header ‖ ciphertext ‖ tag into `out`, the IV from the salt, SSRC, ROC and sequence
 * number (§8.1), the 12-byte header as associated data (§8.2). Returns the length, or 0.
 */
static size_t seal(gcm_context *c, uint32_t byte1, uint32_t seq, uint32_t timestamp, uint32_t ssrc, uint32_t roc,
                   const uint8_t *payload, size_t length, uint8_t *out) {
  if (RTP_HEADER_BYTES + length + GCM_TAG_BYTES > MAX_PACKET_BYTES) return 0;
  out[0] = 0x80;
  out[1] = (uint8_t)byte1;
  out[2] = (uint8_t)(seq >> 8);
  out[3] = (uint8_t)seq;
  out[4] = (uint8_t)(timestamp >> 24);
  out[5] = (uint8_t)(timestamp >> 16);
  out[6] = (uint8_t)(timestamp >> 8);
  out[7] = (uint8_t)timestamp;
  out[8] = (uint8_t)(ssrc >> 24);
  out[9] = (uint8_t)(ssrc >> 16);
  out[10] = (uint8_t)(ssrc >> 8);
  out[11] = (uint8_t)ssrc;
  uint8_t iv[GCM_IV_BYTES] = {0, 0, out[8], out[9], out[10], out[11], (uint8_t)(roc >> 24), (uint8_t)(roc >> 16),
                              (uint8_t)(roc >> 8), (uint8_t)roc, out[2], out[3]};
  for (int i = 0; i < GCM_IV_BYTES; i++) iv[i] ^= c->salt[i];
  int n = 0;
  int ok = EVP_EncryptInit_ex(c->ctx, NULL, NULL, NULL, iv);
  /* The IV is the salt XOR public header fields: it would give the salt away. */
  OPENSSL_cleanse(iv, sizeof iv);
  if (ok != 1) return 0;
  if (EVP_EncryptUpdate(c->ctx, NULL, &n, out, RTP_HEADER_BYTES) != 1) return 0;
  if (length > 0 && EVP_EncryptUpdate(c->ctx, out + RTP_HEADER_BYTES, &n, payload, (int)length) != 1) return 0;
  if (EVP_EncryptFinal_ex(c->ctx, out + RTP_HEADER_BYTES + length, &n) != 1) return 0;
  if (EVP_CIPHER_CTX_ctrl(c->ctx, EVP_CTRL_GCM_GET_TAG, GCM_TAG_BYTES, out + RTP_HEADER_BYTES + length) != 1) return 0;
  return RTP_HEADER_BYTES + length + GCM_TAG_BYTES;
}

typedef struct {
  gcm_context *context;
  uint32_t byte1, seq, timestamp, ssrc, roc;
  uint8_t *payload;
  size_t length;
} seal_args;

/* Arguments 0..6: context, byte1 (marker and payload type), seq, timestamp, ssrc, roc, payload. */
static int get_seal_args(napi_env env, napi_value *argv, seal_args *a) {
  a->context = (gcm_context *)unwrap(env, argv[0], &GCM_CONTEXT_TAG);
  if (!a->context) return 0;
  if (a->context->open) return 0;
  return get_u32(env, argv[1], &a->byte1) && get_u32(env, argv[2], &a->seq) && get_u32(env, argv[3], &a->timestamp) &&
         get_u32(env, argv[4], &a->ssrc) && get_u32(env, argv[5], &a->roc) &&
         get_bytes(env, argv[6], &a->payload, &a->length);
}

/* seal(context, byte1, seq, timestamp, ssrc, roc, payload, out: Uint8Array): number of bytes written */
static napi_value seal_js(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  seal_args a;
  uint8_t *out;
  size_t out_length;
  if (!get_args(env, info, 8, argv) || !get_seal_args(env, argv, &a) || !get_bytes(env, argv[7], &out, &out_length))
    return throw_error(env, "seal(context, byte1, seq, timestamp, ssrc, roc, payload, out): bad arguments");
  if (out_length < RTP_HEADER_BYTES + a.length + GCM_TAG_BYTES) return throw_error(env, "seal: output too small");
  uint8_t packet[MAX_PACKET_BYTES];
  size_t written = seal(a.context, a.byte1, a.seq, a.timestamp, a.ssrc, a.roc, a.payload, a.length, packet);
  if (written == 0) return throw_error(env, "seal: packet too large or OpenSSL failed");
  memcpy(out, packet, written);
  OPENSSL_cleanse(packet, written);
  napi_value result;
  napi_create_uint32(env, (uint32_t)written, &result);
  return result;
}

/*
 * sealSend(context, byte1, seq, timestamp, ssrc, roc, payload, fd, target): bytes sent, or −errno
 * (−EAGAIN when the socket buffer is full: the caller falls back to the queued JavaScript send).
 */
static napi_value seal_send_js(napi_env env, napi_callback_info info) {
  napi_value argv[9];
  seal_args a;
  int32_t fd = -1;
  void *target_data = NULL;
  if (!get_args(env, info, 9, argv) || !get_seal_args(env, argv, &a) || !get_i32(env, argv[7], &fd) || fd < 0 ||
      !(target_data = unwrap(env, argv[8], &TARGET_TAG)))
    return throw_error(env, "sealSend(context, byte1, seq, timestamp, ssrc, roc, payload, fd, target): bad arguments");
  target *t = (target *)target_data;
  uint8_t packet[MAX_PACKET_BYTES];
  size_t written = seal(a.context, a.byte1, a.seq, a.timestamp, a.ssrc, a.roc, a.payload, a.length, packet);
  if (written == 0) return throw_error(env, "sealSend: packet too large or OpenSSL failed");
  ssize_t sent;
  do {
    /* On a socket connected to this address the kernel keeps the route: no lookup per datagram. */
    sent = t->connected_fd == fd ? send(fd, packet, written, MSG_DONTWAIT | MSG_NOSIGNAL)
                                 : sendto(fd, packet, written, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&t->addr, t->length);
  } while (sent < 0 && errno == EINTR);
  int32_t code = sent < 0 ? -errno : (int32_t)sent;
  napi_value result;
  napi_create_int32(env, code, &result);
  return result;
}

/*
 * connectTarget(fd, target): connect(2) the UDP socket `fd` to `target`, so sealSend to that target on
 * that socket uses the route the kernel keeps for a connected socket instead of looking one up per
 * datagram. The socket then receives only from that address. Returns 0 or −errno.
 */
static napi_value connect_target_js(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd = -1;
  target *t;
  if (!get_args(env, info, 2, argv) || !get_i32(env, argv[0], &fd) || fd < 0 || !(t = (target *)unwrap(env, argv[1], &TARGET_TAG)))
    return throw_error(env, "connectTarget(fd, target): bad arguments");
  int32_t code = 0;
  if (connect(fd, (struct sockaddr *)&t->addr, t->length) == 0) t->connected_fd = fd;
  else code = -errno;
  napi_value result;
  napi_create_int32(env, code, &result);
  return result;
}

/*
 * open(context, packet, headerBytes, roc, out): RFC 7714 §8 check and decryption of one SRTP packet
 * whose RTP header (with any CSRCs and extension) is `headerBytes` long: the IV from the salt, the
 * packet's SSRC and sequence number and `roc` (§8.1), the header as associated data (§8.2), the last
 * 16 bytes as the tag. Writes the plaintext payload into `out`; returns its length, or −1 when the
 * packet is not authentic under this key (nothing is written then that a caller may use).
 */
static napi_value open_js(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  void *data = NULL;
  uint8_t *packet, *out;
  size_t length, out_length;
  uint32_t header = 0, roc = 0;
  if (!get_args(env, info, 5, argv) || !(data = unwrap(env, argv[0], &GCM_CONTEXT_TAG)) ||
      !get_bytes(env, argv[1], &packet, &length) || !get_u32(env, argv[2], &header) || !get_u32(env, argv[3], &roc) ||
      !get_bytes(env, argv[4], &out, &out_length))
    return throw_error(env, "open(context, packet, headerBytes, roc, out): bad arguments");
  gcm_context *c = (gcm_context *)data;
  if (!c->open) return throw_error(env, "open: this context seals");
  int32_t result = -1;
  /* In size_t, so a header length near 2^32 cannot wrap the sum (it is refused by the checks below). */
  size_t header_length = header;
  if (header_length >= RTP_HEADER_BYTES && length >= GCM_TAG_BYTES && header_length <= length - GCM_TAG_BYTES &&
      header_length <= INT32_MAX && length - GCM_TAG_BYTES - header_length <= MAX_PACKET_BYTES &&
      out_length >= length - GCM_TAG_BYTES - header_length) {
    size_t body = length - header_length - GCM_TAG_BYTES;
    uint8_t iv[GCM_IV_BYTES] = {0, 0, packet[8], packet[9], packet[10], packet[11], (uint8_t)(roc >> 24), (uint8_t)(roc >> 16),
                                (uint8_t)(roc >> 8), (uint8_t)roc, packet[2], packet[3]};
    for (int i = 0; i < GCM_IV_BYTES; i++) iv[i] ^= c->salt[i];
    uint8_t plain[MAX_PACKET_BYTES];
    uint8_t tag[GCM_TAG_BYTES];
    memcpy(tag, packet + length - GCM_TAG_BYTES, GCM_TAG_BYTES);
    int n = 0;
    if (EVP_DecryptInit_ex(c->ctx, NULL, NULL, NULL, iv) == 1 && EVP_DecryptUpdate(c->ctx, NULL, &n, packet, (int)header) == 1 &&
        (body == 0 || EVP_DecryptUpdate(c->ctx, plain, &n, packet + header, (int)body) == 1) &&
        EVP_CIPHER_CTX_ctrl(c->ctx, EVP_CTRL_GCM_SET_TAG, GCM_TAG_BYTES, tag) == 1 &&
        EVP_DecryptFinal_ex(c->ctx, plain + body, &n) == 1) {
      memcpy(out, plain, body);
      result = (int32_t)body;
    }
    OPENSSL_cleanse(plain, body);
    OPENSSL_cleanse(iv, sizeof iv);
  }
  napi_value value;
  napi_create_int32(env, result, &value);
  return value;
}

/* AES-GCM for SFrame (RFC 9605 §4.5.1's AES_128_GCM_SHA256_128 and AES_256_GCM_SHA512_128 suites), by key length. */
static const EVP_CIPHER *gcm_for(size_t key_length) {
  return key_length == 16 ? EVP_aes_128_gcm() : key_length == 32 ? EVP_aes_256_gcm() : NULL;
}

/*
 * Keyed AES-GCM contexts for SFrame (12-byte nonce, 16-byte tag, the associated data in two parts:
 * header and metadata): the key schedule and GHASH tables are set up once per key
 * (aeadKey) instead of on every frame, and torn down as soon as the key is wiped (aeadForget), or
 * by the finalizer when the handle is collected.
 */
typedef struct {
  EVP_CIPHER_CTX *seal;
  EVP_CIPHER_CTX *open;
} aead_key;

static void aead_key_clear(aead_key *k) {
  if (k->seal) EVP_CIPHER_CTX_free(k->seal);
  if (k->open) EVP_CIPHER_CTX_free(k->open);
  k->seal = NULL;
  k->open = NULL;
}

static void free_aead_key(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  aead_key_clear((aead_key *)data);
  free(data);
}

/* aeadKey(key: 16 or 32 bytes): external */
static napi_value aead_key_new(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  uint8_t *key;
  size_t key_length;
  if (!get_args(env, info, 1, argv) || !get_bytes(env, argv[0], &key, &key_length)) return throw_error(env, "aeadKey(key): a Uint8Array expected");
  const EVP_CIPHER *cipher = gcm_for(key_length);
  if (!cipher) return throw_error(env, "aeadKey: a 16- or 32-byte key expected");
  aead_key *k = (aead_key *)calloc(1, sizeof *k);
  if (!k) return throw_error(env, "aeadKey: out of memory");
  k->seal = EVP_CIPHER_CTX_new();
  k->open = EVP_CIPHER_CTX_new();
  if (!k->seal || !k->open || EVP_EncryptInit_ex(k->seal, cipher, NULL, NULL, NULL) != 1 ||
      EVP_CIPHER_CTX_ctrl(k->seal, EVP_CTRL_GCM_SET_IVLEN, GCM_IV_BYTES, NULL) != 1 || EVP_EncryptInit_ex(k->seal, NULL, NULL, key, NULL) != 1 ||
      EVP_DecryptInit_ex(k->open, cipher, NULL, NULL, NULL) != 1 ||
      EVP_CIPHER_CTX_ctrl(k->open, EVP_CTRL_GCM_SET_IVLEN, GCM_IV_BYTES, NULL) != 1 || EVP_DecryptInit_ex(k->open, NULL, NULL, key, NULL) != 1) {
    free_aead_key(env, k, NULL);
    return throw_error(env, "aeadKey: OpenSSL refused the key");
  }
  napi_value result = wrap(env, k, free_aead_key, &AEAD_KEY_TAG);
  return result ? result : throw_error(env, "aeadKey: cannot create the handle");
}

static aead_key *get_aead_key(napi_env env, napi_value value) {
  return (aead_key *)unwrap(env, value, &AEAD_KEY_TAG);
}

/* aeadForget(handle): frees the contexts now (OpenSSL wipes the key schedule); later use throws. */
static napi_value aead_forget_js(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  aead_key *k;
  if (!get_args(env, info, 1, argv) || !(k = get_aead_key(env, argv[0]))) return throw_error(env, "aeadForget(handle): bad arguments");
  aead_key_clear(k);
  return NULL;
}

/* aeadSealWith(handle, nonce(12), aad1, aad2, plaintext, out, offset): bytes written (ciphertext ‖ tag). */
static napi_value aead_seal_with_js(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  aead_key *k;
  uint8_t *nonce, *aad1, *aad2, *plain, *out;
  size_t nonce_length, aad1_length, aad2_length, plain_length, out_length;
  uint32_t offset = 0;
  if (!get_args(env, info, 7, argv) || !(k = get_aead_key(env, argv[0])) || !get_bytes(env, argv[1], &nonce, &nonce_length) ||
      !get_bytes(env, argv[2], &aad1, &aad1_length) || !get_bytes(env, argv[3], &aad2, &aad2_length) ||
      !get_bytes(env, argv[4], &plain, &plain_length) || !get_bytes(env, argv[5], &out, &out_length) || !get_u32(env, argv[6], &offset))
    return throw_error(env, "aeadSealWith(handle, nonce, aad1, aad2, plaintext, out, offset): bad arguments");
  if (!k->seal) return throw_error(env, "aeadSealWith: the key was forgotten");
  if (nonce_length != GCM_IV_BYTES) return throw_error(env, "aeadSealWith: a 12-byte nonce expected");
  /* OpenSSL takes int lengths: a longer input would be truncated (or wrap negative), authenticating less than given. */
  if (aad1_length > INT32_MAX || aad2_length > INT32_MAX || plain_length > INT32_MAX)
    return throw_error(env, "aeadSealWith: input too long");
  if (offset > out_length || out_length - offset < plain_length + GCM_TAG_BYTES)
    return throw_error(env, "aeadSealWith: output too small");
  EVP_CIPHER_CTX *ctx = k->seal;
  uint8_t *dst = out + offset;
  int n = 0;
  if (EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, nonce) != 1 ||
      (aad1_length > 0 && EVP_EncryptUpdate(ctx, NULL, &n, aad1, (int)aad1_length) != 1) ||
      (aad2_length > 0 && EVP_EncryptUpdate(ctx, NULL, &n, aad2, (int)aad2_length) != 1) ||
      (plain_length > 0 && EVP_EncryptUpdate(ctx, dst, &n, plain, (int)plain_length) != 1) ||
      EVP_EncryptFinal_ex(ctx, dst + plain_length, &n) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, GCM_TAG_BYTES, dst + plain_length) != 1)
    return throw_error(env, "aeadSealWith: OpenSSL failed");
  napi_value result;
  napi_create_uint32(env, (uint32_t)(plain_length + GCM_TAG_BYTES), &result);
  return result;
}

/* aeadOpenWith(handle, nonce(12), aad1, aad2, ciphertext, tag(16), out): plaintext length, or −1. */
static napi_value aead_open_with_js(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  aead_key *k;
  uint8_t *nonce, *aad1, *aad2, *ct, *tag, *out;
  size_t nonce_length, aad1_length, aad2_length, ct_length, tag_length, out_length;
  if (!get_args(env, info, 7, argv) || !(k = get_aead_key(env, argv[0])) || !get_bytes(env, argv[1], &nonce, &nonce_length) ||
      !get_bytes(env, argv[2], &aad1, &aad1_length) || !get_bytes(env, argv[3], &aad2, &aad2_length) ||
      !get_bytes(env, argv[4], &ct, &ct_length) || !get_bytes(env, argv[5], &tag, &tag_length) || !get_bytes(env, argv[6], &out, &out_length))
    return throw_error(env, "aeadOpenWith(handle, nonce, aad1, aad2, ciphertext, tag, out): bad arguments");
  if (!k->open) return throw_error(env, "aeadOpenWith: the key was forgotten");
  if (nonce_length != GCM_IV_BYTES || tag_length != GCM_TAG_BYTES) return throw_error(env, "aeadOpenWith: a 12-byte nonce and a 16-byte tag expected");
  if (aad1_length > INT32_MAX || aad2_length > INT32_MAX || ct_length > INT32_MAX) return throw_error(env, "aeadOpenWith: input too long");
  if (out_length < ct_length) return throw_error(env, "aeadOpenWith: output too small");
  EVP_CIPHER_CTX *ctx = k->open;
  uint8_t tag_copy[GCM_TAG_BYTES];
  memcpy(tag_copy, tag, GCM_TAG_BYTES);
  int n = 0;
  int32_t result = -1;
  if (EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, nonce) == 1 &&
      (aad1_length == 0 || EVP_DecryptUpdate(ctx, NULL, &n, aad1, (int)aad1_length) == 1) &&
      (aad2_length == 0 || EVP_DecryptUpdate(ctx, NULL, &n, aad2, (int)aad2_length) == 1) &&
      (ct_length == 0 || EVP_DecryptUpdate(ctx, out, &n, ct, (int)ct_length) == 1) &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, GCM_TAG_BYTES, tag_copy) == 1 && EVP_DecryptFinal_ex(ctx, out + ct_length, &n) == 1)
    result = (int32_t)ct_length;
  else
    OPENSSL_cleanse(out, ct_length);
  napi_value value;
  napi_create_int32(env, result, &value);
  return value;
}


/*
 * Batched receive on a UDP socket werift opened (src/media/udp-batch.ts).
 *
 * Node's dgram delivers one 'message' event per datagram: a 64 KiB allocation trimmed to size, a
 * Buffer, an address object built property by property, a callback scope and a microtask checkpoint
 * each time. At a few hundred datagrams a second per socket that is most of the relay's receive
 * cost. Here a libuv poll watcher on a duplicate of the socket's descriptor (dgram's own watcher
 * stops reading: the caller calls recvStop on the handle) reads every queued datagram with one
 * recvmmsg(2) into a receive area JavaScript owns, writes each datagram's offset, length and sender
 * into a metadata array, and makes one callback for the batch.
 *
 * The duplicate descriptor is separate in libuv's and epoll's books, so dgram's watcher (still used
 * for sends that would block) and this one never collide. It is closed with the watcher: when the
 * caller stops it, when the external is collected, or when the environment (a worker) ends.
 */
#define RECV_SLOT_BYTES 2048
#define RECV_META_WORDS 8
#define RECV_MAX_SLOTS 64
/* Rounds of recvmmsg per readiness event: bounded, so one flooded socket cannot hold the loop. */
#define RECV_MAX_ROUNDS 4

static const napi_type_tag POLLER_TAG = {0x636f6e636c617665ULL, 0x706f6c6c65723031ULL};

typedef struct poller {
  uv_poll_t poll;
  int fd;
  napi_env env;
  napi_ref callback;
  napi_ref area_ref;
  napi_ref meta_ref;
  napi_async_context async;
  napi_async_cleanup_hook_handle cleanup;
  uint8_t *area;
  uint32_t *meta;
  uint32_t slots;
  /* Stopped: no more callbacks; the watcher is closing or closed. */
  bool stopped;
  /* The external was collected (the struct is freed once the watcher has closed too). */
  bool collected;
  bool closed;
  double truncated;
  struct mmsghdr msgs[RECV_MAX_SLOTS];
  struct iovec iov[RECV_MAX_SLOTS];
  struct sockaddr_storage from[RECV_MAX_SLOTS];
} poller;

static void poller_closed(uv_handle_t *handle) {
  poller *p = (poller *)handle->data;
  if (p->fd >= 0) close(p->fd);
  p->fd = -1;
  p->closed = true;
  if (p->cleanup) {
    napi_remove_async_cleanup_hook(p->cleanup);
    p->cleanup = NULL;
  }
  if (p->collected) free(p);
}

/* Stops callbacks and releases the JavaScript references; the watcher closes asynchronously. */
static void poller_stop(poller *p, bool release_refs) {
  if (p->stopped) return;
  p->stopped = true;
  uv_poll_stop(&p->poll);
  if (release_refs) {
    napi_delete_reference(p->env, p->callback);
    napi_delete_reference(p->env, p->area_ref);
    napi_delete_reference(p->env, p->meta_ref);
    napi_async_destroy(p->env, p->async);
  }
  uv_close((uv_handle_t *)&p->poll, poller_closed);
}

/* The environment (a worker thread) is ending: close the watcher so its loop can close. */
static void poller_env_cleanup(napi_async_cleanup_hook_handle handle, void *arg) {
  (void)handle;
  poller *p = (poller *)arg;
  if (p->stopped && p->closed) {
    napi_remove_async_cleanup_hook(p->cleanup);
    p->cleanup = NULL;
    return;
  }
  /* References belong to the ending environment: it frees them itself. */
  if (!p->stopped) poller_stop(p, false);
}

static void free_poller(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  poller *p = (poller *)data;
  p->collected = true;
  if (!p->stopped) poller_stop(p, false);
  else if (p->closed) free(p);
}

static void poller_readable(uv_poll_t *handle, int status, int events) {
  (void)events;
  poller *p = (poller *)handle->data;
  if (p->stopped) return;
  napi_env env = p->env;
  for (int round = 0; round < RECV_MAX_ROUNDS && !p->stopped; round++) {
    int n;
    if (status < 0) {
      n = -1;
      errno = EIO;
    } else {
      for (uint32_t i = 0; i < p->slots; i++) {
        p->msgs[i].msg_hdr.msg_namelen = sizeof p->from[i];
        p->msgs[i].msg_hdr.msg_flags = 0;
        p->msgs[i].msg_len = 0;
      }
      do {
        n = recvmmsg(p->fd, p->msgs, p->slots, MSG_DONTWAIT, NULL);
      } while (n < 0 && errno == EINTR);
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    uint32_t count = 0;
    if (n > 0) {
      for (int i = 0; i < n; i++) {
        struct msghdr *h = &p->msgs[i].msg_hdr;
        /* Longer than a slot: no WebRTC datagram is; it cannot be read whole, so it is dropped. */
        if (h->msg_flags & MSG_TRUNC) {
          p->truncated++;
          continue;
        }
        uint32_t *m = p->meta + count * RECV_META_WORDS;
        m[0] = (uint32_t)i * RECV_SLOT_BYTES;
        m[1] = p->msgs[i].msg_len;
        memset(m + 2, 0, 6 * sizeof(uint32_t));
        if (p->from[i].ss_family == AF_INET) {
          struct sockaddr_in *a = (struct sockaddr_in *)&p->from[i];
          m[2] = 4;
          m[3] = ntohs(a->sin_port);
          memcpy(m + 4, &a->sin_addr, 4);
        } else if (p->from[i].ss_family == AF_INET6) {
          struct sockaddr_in6 *a = (struct sockaddr_in6 *)&p->from[i];
          m[2] = 6;
          m[3] = ntohs(a->sin6_port);
          memcpy(m + 4, &a->sin6_addr, 16);
        }
        count++;
      }
    }
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) return;
    napi_value callback, receiver, argv[1], result;
    /* count ≥ 0: a batch; −errno: the socket reported an error (the caller decides). */
    int32_t arg = n < 0 ? -errno : (int32_t)count;
    if (napi_get_reference_value(env, p->callback, &callback) == napi_ok && callback != NULL &&
        napi_get_global(env, &receiver) == napi_ok && napi_create_int32(env, arg, &argv[0]) == napi_ok) {
      if (napi_make_callback(env, p->async, receiver, callback, 1, argv, &result) == napi_pending_exception) {
        napi_value error;
        if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
      }
    }
    napi_close_handle_scope(env, scope);
    if (n < 0 || (uint32_t)n < p->slots) return;
  }
}

/*
 * recvBatch(fd, area: Uint8Array, meta: Uint32Array, onBatch(count)): external. Reads datagrams
 * from a duplicate of `fd` whenever it is readable: datagram i of a batch is at
 * area[meta[8i] .. meta[8i] + meta[8i+1]), from family meta[8i+2] (4 or 6), port meta[8i+3], address
 * bytes in meta[8i+4 ..] (network order). onBatch(count) runs once per batch; the area and meta are
 * overwritten by the next one. A negative count is −errno from the socket.
 */
static napi_value recv_batch_js(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int32_t fd = -1;
  uint8_t *area;
  size_t area_length;
  napi_valuetype type;
  bool is_typed = false;
  napi_typedarray_type meta_type;
  size_t meta_length = 0;
  void *meta_data = NULL;
  napi_value meta_buffer;
  size_t meta_offset = 0;
  if (!get_args(env, info, 4, argv) || !get_i32(env, argv[0], &fd) || fd < 0 || !get_bytes(env, argv[1], &area, &area_length) ||
      napi_is_typedarray(env, argv[2], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, argv[2], &meta_type, &meta_length, &meta_data, &meta_buffer, &meta_offset) != napi_ok ||
      meta_type != napi_uint32_array || napi_typeof(env, argv[3], &type) != napi_ok || type != napi_function)
    return throw_error(env, "recvBatch(fd, area, meta, onBatch): bad arguments");
  uint32_t slots = (uint32_t)(area_length / RECV_SLOT_BYTES);
  if (meta_length / RECV_META_WORDS < slots) slots = (uint32_t)(meta_length / RECV_META_WORDS);
  if (slots > RECV_MAX_SLOTS) slots = RECV_MAX_SLOTS;
  if (slots == 0) return throw_error(env, "recvBatch: the area must hold one 2048-byte slot, and meta 8 words per slot");
  uv_loop_t *loop = NULL;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) return throw_error(env, "recvBatch: no event loop");
  poller *p = (poller *)calloc(1, sizeof *p);
  if (!p) return throw_error(env, "recvBatch: out of memory");
  p->env = env;
  p->area = area;
  p->meta = (uint32_t *)meta_data;
  p->slots = slots;
  p->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (p->fd < 0) {
    free(p);
    return throw_error(env, "recvBatch: cannot duplicate the socket");
  }
  for (uint32_t i = 0; i < slots; i++) {
    p->iov[i].iov_base = area + (size_t)i * RECV_SLOT_BYTES;
    p->iov[i].iov_len = RECV_SLOT_BYTES;
    p->msgs[i].msg_hdr.msg_iov = &p->iov[i];
    p->msgs[i].msg_hdr.msg_iovlen = 1;
    p->msgs[i].msg_hdr.msg_name = &p->from[i];
  }
  napi_value resource_name;
  if (uv_poll_init(loop, &p->poll, p->fd) != 0) {
    close(p->fd);
    free(p);
    return throw_error(env, "recvBatch: cannot watch the socket");
  }
  p->poll.data = p;
  if (napi_create_reference(env, argv[3], 1, &p->callback) != napi_ok || napi_create_reference(env, argv[1], 1, &p->area_ref) != napi_ok ||
      napi_create_reference(env, argv[2], 1, &p->meta_ref) != napi_ok ||
      napi_create_string_utf8(env, "conclave:recvBatch", NAPI_AUTO_LENGTH, &resource_name) != napi_ok ||
      napi_async_init(env, NULL, resource_name, &p->async) != napi_ok) {
    p->stopped = true;
    p->collected = true;
    uv_close((uv_handle_t *)&p->poll, poller_closed);
    return throw_error(env, "recvBatch: cannot keep the callback");
  }
  if (napi_add_async_cleanup_hook(env, poller_env_cleanup, p, &p->cleanup) != napi_ok) p->cleanup = NULL;
  if (uv_poll_start(&p->poll, UV_READABLE, poller_readable) != 0) {
    poller_stop(p, true);
    p->collected = true;
    return throw_error(env, "recvBatch: cannot watch the socket");
  }
  /*
   * Referenced, as dgram's handle was while it read (it stops being active when its reading is
   * paused): a socket being read keeps its event loop alive.
   */
  napi_value result = wrap(env, p, free_poller, &POLLER_TAG);
  if (!result) return throw_error(env, "recvBatch: cannot create the handle");
  return result;
}

/* The recvBatch handle that is a call's only argument, or NULL. */
static poller *poller_arg(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  return get_args(env, info, 1, argv) ? (poller *)unwrap(env, argv[0], &POLLER_TAG) : NULL;
}

/* recvStop(handle): no more batches; the duplicate descriptor is closed. Idempotent. */
static napi_value recv_stop_js(napi_env env, napi_callback_info info) {
  poller *p = poller_arg(env, info);
  if (!p) return throw_error(env, "recvStop(handle): a recvBatch handle expected");
  poller_stop(p, true);
  return NULL;
}

/* recvDropped(handle): datagrams dropped as longer than a slot. */
static napi_value recv_dropped_js(napi_env env, napi_callback_info info) {
  poller *p = poller_arg(env, info);
  if (!p) return throw_error(env, "recvDropped(handle): a recvBatch handle expected");
  napi_value value;
  napi_create_double(env, p->truncated, &value);
  return value;
}

/* formatAddress(meta, index): the sender of datagram `index` of the last batch, as dgram reports it. */
static napi_value format_address_js(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  bool is_typed = false;
  napi_typedarray_type type;
  size_t length = 0, offset = 0;
  void *data = NULL;
  napi_value buffer;
  uint32_t index = 0;
  if (!get_args(env, info, 2, argv) || napi_is_typedarray(env, argv[0], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, argv[0], &type, &length, &data, &buffer, &offset) != napi_ok || type != napi_uint32_array ||
      !get_u32(env, argv[1], &index) || (size_t)index * RECV_META_WORDS + RECV_META_WORDS > length)
    return throw_error(env, "formatAddress(meta, index): bad arguments");
  uint32_t *m = (uint32_t *)data + (size_t)index * RECV_META_WORDS;
  char text[INET6_ADDRSTRLEN] = "";
  if (m[2] == 4) inet_ntop(AF_INET, m + 4, text, sizeof text);
  else if (m[2] == 6) inet_ntop(AF_INET6, m + 4, text, sizeof text);
  napi_value value;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &value);
  return value;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"gcmContext", NULL, gcm_context_new, NULL, NULL, NULL, napi_enumerable, NULL},
      {"target", NULL, target_new, NULL, NULL, NULL, napi_enumerable, NULL},
      {"seal", NULL, seal_js, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sealSend", NULL, seal_send_js, NULL, NULL, NULL, napi_enumerable, NULL},
      {"open", NULL, open_js, NULL, NULL, NULL, napi_enumerable, NULL},
      {"aeadKey", NULL, aead_key_new, NULL, NULL, NULL, napi_enumerable, NULL},
      {"aeadForget", NULL, aead_forget_js, NULL, NULL, NULL, napi_enumerable, NULL},
      {"aeadSealWith", NULL, aead_seal_with_js, NULL, NULL, NULL, napi_enumerable, NULL},
      {"aeadOpenWith", NULL, aead_open_with_js, NULL, NULL, NULL, napi_enumerable, NULL},
      {"connectTarget", NULL, connect_target_js, NULL, NULL, NULL, napi_enumerable, NULL},
      {"recvBatch", NULL, recv_batch_js, NULL, NULL, NULL, napi_enumerable, NULL},
      {"recvStop", NULL, recv_stop_js, NULL, NULL, NULL, napi_enumerable, NULL},
      {"recvDropped", NULL, recv_dropped_js, NULL, NULL, NULL, napi_enumerable, NULL},
      {"formatAddress", NULL, format_address_js, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties) != napi_ok) return NULL;
  return exports;
}

#ifndef NODE_GYP_MODULE_NAME
#define NODE_GYP_MODULE_NAME conclave_native
#endif
NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
