// The project's one way of carrying an error in a return type: a result holding either a
// value or a typed error (Boost.Outcome). Calling value() on an error is a programming
// bug and terminates; check with `if (!r)` first.
#pragma once

#include <boost/outcome/result.hpp>
#include <boost/outcome/success_failure.hpp>

namespace mnemo {

template <class T, class E>
using Result = boost::outcome_v2::result<T, E, boost::outcome_v2::policy::terminate>;

/// Where the value and the error convert from the same type (e.g. a JSON value and a message),
/// say which: `return success(value);`, `return failure(message);`.
using boost::outcome_v2::failure;
using boost::outcome_v2::success;

}  // namespace mnemo
