// Temporary until the domain XML parser lands (branch sources).
func acceleratorName(inDomainXML xml: String) -> String? { xml.contains("type='kvm'") ? "kvm" : "tcg" }
