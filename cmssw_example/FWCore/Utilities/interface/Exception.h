// edm::Exception: the framework's own error, with a category (like cms::Exception / edm::errors).
// Everything the framework itself throws is an edm::Exception; errors from gvae stay gvae::Error.
#ifndef FWCore_Utilities_Exception_h
#define FWCore_Utilities_Exception_h

#include <stdexcept>
#include <string>

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
};
const char* categoryName(Category category) noexcept;
}  // namespace errors

class Exception : public std::runtime_error {
 public:
  Exception(errors::Category category, const std::string& message)
      : std::runtime_error(message), category_(category) {}
  errors::Category category() const noexcept { return category_; }

 private:
  errors::Category category_;
};

inline const char* errors::categoryName(Category category) noexcept {
  switch (category) {
    case Category::Configuration: return "Configuration";
    case Category::ProductNotFound: return "ProductNotFound";
    case Category::WrongProductType: return "WrongProductType";
    case Category::LogicError: return "LogicError";
    case Category::EventProcessing: return "EventProcessing";
    case Category::FileOpenError: return "FileOpenError";
  }
  return "Unknown";
}

}  // namespace edm

#endif  // FWCore_Utilities_Exception_h
