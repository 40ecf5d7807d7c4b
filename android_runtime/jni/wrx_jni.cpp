// JNI for ai.wrx.WrxClassifier over the C API (include/wrx/wrx.h). Plain JNI: the natives
// are registered in JNI_OnLoad (no name mangling to keep in sync), the session is an opaque
// long handle, and every error becomes an ai.wrx.WrxException (code, message, hint). Strings
// cross as UTF-8 byte arrays both ways, because JNI's own "UTF" is modified UTF-8.
#include <jni.h>

#include <cstdint>
#include <string>
#include <vector>

#include "wrx/wrx.h"

namespace {

jclass g_exception = nullptr, g_classification = nullptr, g_string = nullptr;
jmethodID g_exception_ctor = nullptr, g_classification_ctor = nullptr, g_string_ctor = nullptr;
jstring g_utf8 = nullptr;

jstring utf8_string(JNIEnv* env, const char* s) {
  const jsize n = static_cast<jsize>(std::char_traits<char>::length(s));
  jbyteArray bytes = env->NewByteArray(n);
  if (bytes == nullptr) return nullptr;
  env->SetByteArrayRegion(bytes, 0, n, reinterpret_cast<const jbyte*>(s));
  auto* out = static_cast<jstring>(env->NewObject(g_string, g_string_ctor, bytes, g_utf8));
  env->DeleteLocalRef(bytes);
  return out;
}

void throw_status(JNIEnv* env, wrx_status st) {
  jstring msg = utf8_string(env, wrx_last_error_message());
  jstring hint = utf8_string(env, wrx_last_error_hint());
  if (env->ExceptionCheck()) return;
  auto* ex = static_cast<jthrowable>(env->NewObject(g_exception, g_exception_ctor, static_cast<jint>(st), msg, hint));
  if (ex != nullptr) env->Throw(ex);
}

void throw_illegal(JNIEnv* env, const char* cls, const char* msg) {
  jclass c = env->FindClass(cls);
  if (c != nullptr) env->ThrowNew(c, msg);
}

wrx_session* handle_of(jlong h) {
  return reinterpret_cast<wrx_session*>(static_cast<uintptr_t>(h));
}

std::vector<char> bytes_of(JNIEnv* env, jbyteArray a) {
  std::vector<char> v(static_cast<size_t>(env->GetArrayLength(a)));
  if (!v.empty()) env->GetByteArrayRegion(a, 0, static_cast<jsize>(v.size()), reinterpret_cast<jbyte*>(v.data()));
  return v;
}

jlong native_open(JNIEnv* env, jclass, jstring dir, jstring plan, jint threads, jdouble bw, jboolean direct,
                  jboolean load_all) {
  const char* d = env->GetStringUTFChars(dir, nullptr);
  const char* p = plan ? env->GetStringUTFChars(plan, nullptr) : nullptr;
  wrx_options o;
  wrx_options_init(&o);
  o.plan = p;
  o.threads = threads;
  o.io_bandwidth_mbps = bw;
  o.direct_io = direct ? 1 : 0;
  o.load_all = load_all ? 1 : 0;
  wrx_session* s = nullptr;
  const wrx_status st = wrx_open(d, &o, &s);
  env->ReleaseStringUTFChars(dir, d);
  if (p) env->ReleaseStringUTFChars(plan, p);
  if (st != WRX_OK) {
    throw_status(env, st);
    return 0;
  }
  return static_cast<jlong>(reinterpret_cast<uintptr_t>(s));
}

jobject native_classify(JNIEnv* env, jclass, jlong h, jbyteArray text, jbyteArray pair) {
  if (text == nullptr) {
    throw_illegal(env, "java/lang/IllegalArgumentException", "text is null");
    return nullptr;
  }
  const std::vector<char> t = bytes_of(env, text);
  const std::vector<char> p = pair ? bytes_of(env, pair) : std::vector<char>();
  wrx_result* r = nullptr;
  const wrx_status st = wrx_classify(handle_of(h), t.data() ? t.data() : "", static_cast<int64_t>(t.size()),
                                     pair ? (p.data() ? p.data() : "") : nullptr, static_cast<int64_t>(p.size()), &r);
  if (st != WRX_OK) {
    throw_status(env, st);
    return nullptr;
  }
  const jsize n = r->num_categories;
  jobjectArray labels = env->NewObjectArray(n, g_string, nullptr);
  jfloatArray scores = env->NewFloatArray(n), logits = env->NewFloatArray(n);
  jintArray tokens = env->NewIntArray(r->num_tokens);
  jdoubleArray times = env->NewDoubleArray(5);
  jobject out = nullptr;
  if (labels && scores && logits && tokens && times) {
    std::vector<float> sc(static_cast<size_t>(n));
    for (jsize i = 0; i < n; ++i) {
      jstring l = utf8_string(env, r->categories[i].label);
      env->SetObjectArrayElement(labels, i, l);
      env->DeleteLocalRef(l);
      sc[size_t(i)] = r->categories[i].score;
    }
    env->SetFloatArrayRegion(scores, 0, n, sc.data());
    env->SetFloatArrayRegion(logits, 0, n, r->logits);
    env->SetIntArrayRegion(tokens, 0, r->num_tokens, reinterpret_cast<const jint*>(r->token_ids));
    const double tv[5] = {r->timings.tokenize_ms, r->timings.io_ms, r->timings.compute_ms, r->timings.stall_ms,
                          r->timings.total_ms};
    env->SetDoubleArrayRegion(times, 0, 5, tv);
    if (!env->ExceptionCheck())
      out = env->NewObject(g_classification, g_classification_ctor, static_cast<jint>(r->label_index), labels, scores,
                           logits, tokens, times, static_cast<jlong>(r->timings.bytes_read));
  }
  wrx_result_free(r);
  return out;
}

void native_cancel(JNIEnv*, jclass, jlong h) {
  (void)wrx_cancel(handle_of(h));
}

jlongArray native_stats(JNIEnv* env, jclass, jlong h) {
  wrx_stats s{};
  const wrx_status st = wrx_session_stats(handle_of(h), &s);
  if (st != WRX_OK) {
    throw_status(env, st);
    return nullptr;
  }
  const jlong v[5] = {s.resident_weight_bytes, s.preload_bytes, s.rss_bytes, s.peak_rss_bytes,
                      static_cast<jlong>(s.queries)};
  jlongArray a = env->NewLongArray(5);
  if (a) env->SetLongArrayRegion(a, 0, 5, v);
  return a;
}

jstring native_plan_name(JNIEnv* env, jclass, jlong h) {
  wrx_info info{};
  const wrx_status st = wrx_session_info(handle_of(h), &info);
  if (st != WRX_OK) {
    throw_status(env, st);
    return nullptr;
  }
  return utf8_string(env, info.plan_name);
}

void native_close(JNIEnv* env, jclass, jlong h) {
  const wrx_status st = wrx_close(handle_of(h));
  if (st != WRX_OK) throw_status(env, st);
}

jclass global_class(JNIEnv* env, const char* name) {
  jclass c = env->FindClass(name);
  if (c == nullptr) return nullptr;
  auto* g = static_cast<jclass>(env->NewGlobalRef(c));
  env->DeleteLocalRef(c);
  return g;
}

}  // namespace

extern "C" JNIEXPORT jint JNI_OnLoad(JavaVM* vm, void*) {
  JNIEnv* env = nullptr;
  if (vm->GetEnv(reinterpret_cast<void**>(&env), JNI_VERSION_1_6) != JNI_OK) return JNI_ERR;
  g_exception = global_class(env, "ai/wrx/WrxException");
  g_classification = global_class(env, "ai/wrx/Classification");
  g_string = global_class(env, "java/lang/String");
  if (!g_exception || !g_classification || !g_string) return JNI_ERR;
  g_exception_ctor = env->GetMethodID(g_exception, "<init>", "(ILjava/lang/String;Ljava/lang/String;)V");
  g_classification_ctor = env->GetMethodID(g_classification, "<init>", "(I[Ljava/lang/String;[F[F[I[DJ)V");
  g_string_ctor = env->GetMethodID(g_string, "<init>", "([BLjava/lang/String;)V");
  jstring utf8 = env->NewStringUTF("UTF-8");
  if (!g_exception_ctor || !g_classification_ctor || !g_string_ctor || !utf8) return JNI_ERR;
  g_utf8 = static_cast<jstring>(env->NewGlobalRef(utf8));
  static const JNINativeMethod methods[] = {
      {const_cast<char*>("nativeOpen"), const_cast<char*>("(Ljava/lang/String;Ljava/lang/String;IDZZ)J"),
       reinterpret_cast<void*>(native_open)},
      {const_cast<char*>("nativeClassify"), const_cast<char*>("(J[B[B)Lai/wrx/Classification;"),
       reinterpret_cast<void*>(native_classify)},
      {const_cast<char*>("nativeCancel"), const_cast<char*>("(J)V"), reinterpret_cast<void*>(native_cancel)},
      {const_cast<char*>("nativeStats"), const_cast<char*>("(J)[J"), reinterpret_cast<void*>(native_stats)},
      {const_cast<char*>("nativePlanName"), const_cast<char*>("(J)Ljava/lang/String;"),
       reinterpret_cast<void*>(native_plan_name)},
      {const_cast<char*>("nativeClose"), const_cast<char*>("(J)V"), reinterpret_cast<void*>(native_close)},
  };
  jclass cls = env->FindClass("ai/wrx/WrxClassifier");
  if (cls == nullptr || env->RegisterNatives(cls, methods, sizeof(methods) / sizeof(methods[0])) != 0) return JNI_ERR;
  return JNI_VERSION_1_6;
}
