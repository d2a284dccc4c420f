#ifndef DREAMLAKE_CCURL_SHIM_H
#define DREAMLAKE_CCURL_SHIM_H
#include <curl/curl.h>

// curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call:
// one typed wrapper per kind of argument the S3 client passes.

static inline CURLcode dreamlake_curl_set_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode dreamlake_curl_set_offset(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode dreamlake_curl_set_pointer(CURL *handle, CURLoption option, const void *value) {
    return curl_easy_setopt(handle, option, value);
}

typedef size_t (*dreamlake_curl_data_callback)(char *data, size_t size, size_t count, void *context);

static inline CURLcode dreamlake_curl_set_callback(CURL *handle, CURLoption option, dreamlake_curl_data_callback callback) {
    return curl_easy_setopt(handle, option, callback);
}

static inline CURLcode dreamlake_curl_response_code(CURL *handle, long *code) {
    return curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, code);
}

#endif
