package imagebuild

import (
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"time"
)

// SBOMMediaType is the SBOM's media type and its referrer's artifactType.
const SBOMMediaType = "application/spdx+json"

// spdxDocument is the part of SPDX 2.3 (JSON) that SBOM writes.
type spdxDocument struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      spdxCreationInfo   `json:"creationInfo"`
	Packages          []spdxPackage      `json:"packages"`
	Relationships     []spdxRelationship `json:"relationships"`
}

type spdxCreationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	Name             string            `json:"name"`
	SPDXID           string            `json:"SPDXID"`
	VersionInfo      string            `json:"versionInfo,omitempty"`
	DownloadLocation string            `json:"downloadLocation"`
	FilesAnalyzed    bool              `json:"filesAnalyzed"`
	LicenseDeclared  string            `json:"licenseDeclared,omitempty"`
	PrimaryPurpose   string            `json:"primaryPackagePurpose,omitempty"`
	ExternalRefs     []spdxExternalRef `json:"externalRefs,omitempty"`
}

type spdxExternalRef struct {
	ReferenceCategory string `json:"referenceCategory"`
	ReferenceType     string `json:"referenceType"`
	ReferenceLocator  string `json:"referenceLocator"`
}

type spdxRelationship struct {
	SPDXElementID      string `json:"spdxElementId"`
	RelationshipType   string `json:"relationshipType"`
	RelatedSPDXElement string `json:"relatedSpdxElement"`
}

// SBOM is an SPDX 2.3 JSON document of p's binary: the main module at
// version, the Go standard library, and every module the binary's build
// information lists (with its replacement, when replaced). created is its
// creation time, so that the document is reproducible too.
func SBOM(p Platform, version string, created time.Time) ([]byte, error) {
	bi, err := buildinfo.ReadFile(p.Binary)
	if err != nil {
		return nil, fmt.Errorf("build information of %s: %w", p.Binary, err)
	}
	return spdxOf(bi, p, version, created)
}

func spdxOf(bi *debug.BuildInfo, p Platform, version string, created time.Time) ([]byte, error) {
	doc := spdxDocument{
		SPDXVersion:       "SPDX-2.3",
		DataLicense:       "CC0-1.0",
		SPDXID:            "SPDXRef-DOCUMENT",
		Name:              fmt.Sprintf("%s %s %s", bi.Main.Path, version, p),
		DocumentNamespace: fmt.Sprintf("https://%s/spdx/%s/%s/%s", bi.Main.Path, version, p.OS, p.Architecture),
		CreationInfo: spdxCreationInfo{
			Created:  created.UTC().Format(time.RFC3339),
			Creators: []string{"Tool: hoist-imagebuild", "Organization: hoist"},
		},
	}
	main := spdxPackage{
		Name: bi.Main.Path, SPDXID: "SPDXRef-Package-main", VersionInfo: version,
		DownloadLocation: "https://" + bi.Main.Path, LicenseDeclared: License, PrimaryPurpose: "APPLICATION",
		ExternalRefs: purl(bi.Main.Path, version),
	}
	std := spdxPackage{
		Name: "stdlib", SPDXID: "SPDXRef-Package-stdlib", VersionInfo: bi.GoVersion,
		DownloadLocation: "https://go.dev/dl/", PrimaryPurpose: "LIBRARY",
		ExternalRefs: purl("stdlib", bi.GoVersion),
	}
	doc.Packages = append(doc.Packages, main, std)
	doc.Relationships = append(doc.Relationships,
		spdxRelationship{"SPDXRef-DOCUMENT", "DESCRIBES", main.SPDXID},
		spdxRelationship{main.SPDXID, "DEPENDS_ON", std.SPDXID},
	)
	for i, m := range bi.Deps {
		if m.Replace != nil {
			m = m.Replace
		}
		pkg := spdxPackage{
			Name: m.Path, SPDXID: fmt.Sprintf("SPDXRef-Package-%d", i+1), VersionInfo: m.Version,
			DownloadLocation: "NOASSERTION", PrimaryPurpose: "LIBRARY",
			ExternalRefs: purl(m.Path, m.Version),
		}
		doc.Packages = append(doc.Packages, pkg)
		doc.Relationships = append(doc.Relationships, spdxRelationship{main.SPDXID, "DEPENDS_ON", pkg.SPDXID})
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// purl is the package URL of a Go module.
func purl(path, version string) []spdxExternalRef {
	loc := "pkg:golang/" + path
	if version != "" {
		loc += "@" + version
	}
	return []spdxExternalRef{{ReferenceCategory: "PACKAGE-MANAGER", ReferenceType: "purl", ReferenceLocator: loc}}
}
