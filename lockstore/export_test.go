package lockstore

// Test-only exports for the external test package.
var HashSlot = hashSlot
