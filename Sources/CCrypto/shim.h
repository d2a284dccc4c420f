#ifndef DREAMLAKE_CCRYPTO_SHIM_H
#define DREAMLAKE_CCRYPTO_SHIM_H
#include <openssl/evp.h>
#include <openssl/hmac.h>
#endif
