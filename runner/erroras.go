package runner

import "errors"

// errorAs is errors.As for a target of type T, returned, without the heap
// allocation of a target variable when err is nil: the success path of
// every job passes through the layers that call it.
func errorAs[T error](err error) (T, bool) {
	if err == nil {
		var zero T
		return zero, false
	}
	return errorAsSlow[T](err)
}

func errorAsSlow[T error](err error) (T, bool) {
	var t T
	ok := errors.As(err, &t)
	return t, ok
}
