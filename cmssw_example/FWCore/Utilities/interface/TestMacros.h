// Minimal assertions for the example's ctest executables (no test framework dependency).
#ifndef FWCore_Utilities_TestMacros_h
#define FWCore_Utilities_TestMacros_h

#include <cstdlib>
#include <iostream>
#include <string>

inline int& testFailures() {
  static int failures = 0;
  return failures;
}

#define CHECK(cond)                                                                  \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      std::cerr << __FILE__ << ":" << __LINE__ << ": CHECK failed: " #cond "\n";    \
      ++testFailures();                                                              \
    }                                                                                \
  } while (0)

/// `expr` must throw `type` whose what() contains `text`.
#define CHECK_THROWS(expr, type, text)                                                               \
  do {                                                                                               \
    bool thrown_ = false;                                                                            \
    try {                                                                                            \
      expr;                                                                                          \
    } catch (const type& e_) {                                                                       \
      thrown_ = true;                                                                                \
      if (std::string(e_.what()).find(text) == std::string::npos) {                                 \
        std::cerr << __FILE__ << ":" << __LINE__ << ": message '" << e_.what() << "' lacks '" << text \
                  << "'\n";                                                                          \
        ++testFailures();                                                                            \
      }                                                                                              \
    }                                                                                                \
    if (!thrown_) {                                                                                  \
      std::cerr << __FILE__ << ":" << __LINE__ << ": expected " #type " from " #expr "\n";          \
      ++testFailures();                                                                              \
    }                                                                                                \
  } while (0)

#define TEST_MAIN_RESULT()                                                      \
  (testFailures() == 0 ? (std::cout << "all checks passed\n", EXIT_SUCCESS)    \
                       : (std::cerr << testFailures() << " check(s) failed\n", EXIT_FAILURE))

#endif  // FWCore_Utilities_TestMacros_h
