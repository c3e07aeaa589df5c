#include "FWCore/Framework/interface/Event.h"

#include <cxxabi.h>

#include <cstdlib>

namespace edm {

std::string typeDemangle(const char* mangled) {
  int status = 0;
  char* demangled = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string name = (status == 0 && demangled) ? demangled : mangled;
  std::free(demangled);
  return name;
}

std::string Event::storedType(const std::any& product) {
  // Products are stored as std::shared_ptr<const T>: report T.
  std::string name = typeDemangle(product.type().name());
  const std::string head = "std::shared_ptr<";
  if (name.rfind(head, 0) == 0 && name.size() > head.size() + 1) {
    name = name.substr(head.size(), name.size() - head.size() - 1);
    const std::string constSuffix = " const";
    if (name.size() > constSuffix.size() && name.compare(name.size() - constSuffix.size(), constSuffix.size(), constSuffix) == 0)
      name.resize(name.size() - constSuffix.size());
  }
  return name;
}

}  // namespace edm
