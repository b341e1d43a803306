/*
 * Public-key recovery through the system's libsecp256k1 (Debian: libsecp256k1-1, 0.2.0 on bookworm), as an N-API
 * add-on: `ecdsaRecover(signature64, recid, msgHash32)` returns the 65-byte uncompressed key, or throws.
 *
 * Why not only the `secp256k1` npm package: its prebuilt add-on carries the library as of 2019 (field and scalar
 * inverses by exponentiation); 0.2.0 has the safegcd inverses and its precomputed tables built in. Recovery is a
 * quarter of all the work of a plain transfer. Built by scripts/build-native.ts at install time when the system
 * library and a C compiler are there; src/crypto/index.ts falls back to the npm package's add-on otherwise.
 *
 * The static context is read-only, so every thread (the main thread and each worker loads this add-on) shares it.
 */
#include <node_api.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>
#include <string.h>

#define CHECK(call)                                                                                                    \
  if ((call) != napi_ok) {                                                                                             \
    napi_throw_error(env, NULL, "secp256k1 add-on: N-API call failed: " #call);                                       \
    return NULL;                                                                                                       \
  }

/* The bytes of a Uint8Array argument of exactly `len` bytes, or NULL (with a TypeError thrown) otherwise. */
static const unsigned char *bytes_arg(napi_env env, napi_value v, size_t len, const char *what) {
  bool is;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) {
    napi_throw_type_error(env, NULL, what);
    return NULL;
  }
  napi_typedarray_type type;
  size_t n;
  void *data;
  if (napi_get_typedarray_info(env, v, &type, &n, &data, NULL, NULL) != napi_ok || type != napi_uint8_array || n != len) {
    napi_throw_type_error(env, NULL, what);
    return NULL;
  }
  return (const unsigned char *)data;
}

static napi_value ecdsa_recover(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) {
    napi_throw_type_error(env, NULL, "ecdsaRecover(signature, recid, msgHash) takes three arguments");
    return NULL;
  }
  const unsigned char *sig = bytes_arg(env, argv[0], 64, "signature must be a Uint8Array of 64 bytes");
  if (sig == NULL) return NULL;
  int32_t recid;
  if (napi_get_value_int32(env, argv[1], &recid) != napi_ok || recid < 0 || recid > 3) {
    napi_throw_type_error(env, NULL, "recid must be an integer from 0 to 3");
    return NULL;
  }
  const unsigned char *msg = bytes_arg(env, argv[2], 32, "msgHash must be a Uint8Array of 32 bytes");
  if (msg == NULL) return NULL;

  const secp256k1_context *ctx = secp256k1_context_static;
  secp256k1_ecdsa_recoverable_signature rsig;
  if (!secp256k1_ecdsa_recoverable_signature_parse_compact(ctx, &rsig, sig, recid)) {
    napi_throw_error(env, NULL, "signature: r or s is not below the curve order");
    return NULL;
  }
  secp256k1_pubkey pub;
  if (!secp256k1_ecdsa_recover(ctx, &pub, &rsig, msg)) {
    napi_throw_error(env, NULL, "signature: no public key recovers from it");
    return NULL;
  }
  void *out;
  napi_value buffer, result;
  CHECK(napi_create_arraybuffer(env, 65, &out, &buffer));
  size_t outlen = 65;
  secp256k1_ec_pubkey_serialize(ctx, (unsigned char *)out, &outlen, &pub, SECP256K1_EC_UNCOMPRESSED);
  CHECK(napi_create_typedarray(env, napi_uint8_array, 65, buffer, 0, &result));
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "ecdsaRecover", NAPI_AUTO_LENGTH, ecdsa_recover, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "ecdsaRecover", fn) != napi_ok) return NULL;
  return exports;
}
