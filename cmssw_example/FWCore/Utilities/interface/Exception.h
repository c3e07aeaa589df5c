// edm::Exception: the framework's own error, with a category (like cms::Exception / edm::errors)
// and a context: what the framework was doing when the error passed through it.
//
// Everything the framework itself throws is an edm::Exception. An exception leaving a module
// (source, producer, output) is given the module's context on its way out, as cms::Exception's
// addContext does:
//   * an edm::Exception gets the context appended and is rethrown as the same object;
//   * any other std::exception (a gvae::Error from the library, std::bad_alloc, ...) is wrapped in an
//     edm::Exception of category ModuleFailure that carries the original exception nested inside
//     (std::nested_exception), so the caller can still ask what the original error was
//     (gvaeRun maps a nested gvae::ModelLoadError to its exit code, see exitCodeOf in gvaeRun.cc).
// what() is one line: "<message> [while <context 1>] [while <context 2>] ...", innermost first, e.g.
//   "file 'x.csv', row 3, field 'pt': ... [while running module 'gvaeFastSim' (GvaeFastSimProducer)
//    on event 17 (index 3, stream 1)]"
#ifndef FWCore_Utilities_Exception_h
#define FWCore_Utilities_Exception_h

#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

namespace edm {

namespace errors {
/// What went wrong; gvaeRun maps each category to an exit code (see README).
enum class Category {
  Configuration,     ///< bad or unknown configuration parameter
  ProductNotFound,   ///< Event::get for a label nobody put
  WrongProductType,  ///< Event::get<T> for a product of another type
  LogicError,        ///< framework misuse (put twice, ...)
  EventProcessing,   ///< an event could not be processed (e.g. not every event was written)
  FileOpenError,     ///< an output file cannot be created/written
  ModuleFailure,     ///< a non-framework exception left a module (the original is nested inside)
};
const char* categoryName(Category category) noexcept;
}  // namespace errors

class Exception : public std::runtime_error {
 public:
  Exception(errors::Category category, const std::string& message)
      : std::runtime_error(message), category_(category), message_(message), what_(message) {}
  errors::Category category() const noexcept { return category_; }
  const char* what() const noexcept override { return what_.c_str(); }
  /// The message without context.
  const std::string& message() const noexcept { return message_; }
  /// Contexts added on the way out, innermost first ("running module 'x' (T) on event 3 ...").
  const std::vector<std::string>& context() const noexcept { return context_; }
  void addContext(const std::string& context) {
    context_.push_back(context);
    what_ += " [while " + context + "]";
  }

 private:
  errors::Category category_;
  std::string message_;
  std::vector<std::string> context_;
  std::string what_;
};

/// Call inside a catch block: rethrow the exception being handled with `context` added (see the
/// header comment: edm::Exception in place, anything else wrapped as ModuleFailure with the
/// original nested).
[[noreturn]] inline void rethrowWithContext(const std::string& context) {
  try {
    throw;
  } catch (Exception& e) {
    e.addContext(context);
    throw;
  } catch (const std::exception& e) {
    Exception wrapped(errors::Category::ModuleFailure, e.what());
    wrapped.addContext(context);
    std::throw_with_nested(wrapped);
  } catch (...) {
    Exception wrapped(errors::Category::ModuleFailure, "unknown exception");
    wrapped.addContext(context);
    std::throw_with_nested(wrapped);
  }
}

inline const char* errors::categoryName(Category category) noexcept {
  switch (category) {
    case Category::Configuration: return "Configuration";
    case Category::ProductNotFound: return "ProductNotFound";
    case Category::WrongProductType: return "WrongProductType";
    case Category::LogicError: return "LogicError";
    case Category::EventProcessing: return "EventProcessing";
    case Category::FileOpenError: return "FileOpenError";
    case Category::ModuleFailure: return "ModuleFailure";
  }
  return "Unknown";
}

}  // namespace edm

#endif  // FWCore_Utilities_Exception_h
