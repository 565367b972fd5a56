/**
 * Docker image references, parsed by the grammar of the distribution project's `reference`
 * package (what `docker pull` accepts):
 *
 *     reference  := name [ ":" tag ] [ "@" digest ]
 *     name       := [ domain "/" ] path-component ( "/" path-component )*
 *     domain     := host [ ":" port ]        (a first component with ".", ":" or upper case, or "localhost")
 *     path-component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
 *     tag        := [\w][\w.-]{0,127}
 *     digest     := algorithm ":" hex        (sha256: exactly 64 hex digits)
 */

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN_PART = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_PART}(?:\\.${DOMAIN_PART})*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';

/**
 * The whole grammar as one regular expression (for the Helm chart's JSON Schema too).
 */
export const IMAGE_REFERENCE_PATTERN = `^(?:(?:${DOMAIN})/)?${COMPONENT}(?:/${COMPONENT})*(?::${TAG})?(?:@${DIGEST})?$`;

/** Longest repository name Docker accepts. */
const NAME_MAX = 255;

export interface ImageReference {
  readonly domain: string | undefined;
  readonly path: string;
  readonly tag: string | undefined;
  readonly digest: string | undefined;
}

/** Parses `ref`; throws an Error saying what is wrong, in Docker's own terms where it has them. */
export function parseImageReference(ref: string): ImageReference {
  if (ref === '') throw new Error('must not be empty');
  if (/\s/.test(ref)) throw new Error('must not contain white space');
  const at = ref.indexOf('@');
  const digest = at >= 0 ? ref.slice(at + 1) : undefined;
  const nameTag = at >= 0 ? ref.slice(0, at) : ref;
  if (digest !== undefined) {
    if (!new RegExp(`^${DIGEST}$`).test(digest))
      throw new Error(`"${digest}" is not a digest such as sha256:<64 hex digits>`);
    if (/^sha256:/i.test(digest) && digest.length !== 'sha256:'.length + 64)
      throw new Error('a sha256 digest has exactly 64 hex digits');
  }
  // the tag is after the last colon that is not part of a domain's port (no slash after it)
  const colon = nameTag.lastIndexOf(':');
  const hasTag = colon > nameTag.lastIndexOf('/');
  const name = hasTag ? nameTag.slice(0, colon) : nameTag;
  const tag = hasTag ? nameTag.slice(colon + 1) : undefined;
  if (tag !== undefined && !new RegExp(`^${TAG}$`).test(tag))
    throw new Error(`"${tag}" is not a tag (letters, digits, _ . -, at most 128, not starting with . or -)`);
  if (name.length > NAME_MAX) throw new Error(`repository name longer than ${NAME_MAX} characters`);
  const parts = name.split('/');
  const first = parts[0] ?? '';
  // Docker's rule (splitDockerDomain): a first component with ".", ":" or upper case, or "localhost", is a registry
  const hasDomain =
    parts.length > 1 &&
    (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase());
  const domain = hasDomain ? first : undefined;
  if (domain !== undefined && !new RegExp(`^${DOMAIN}$`).test(domain))
    throw new Error(`"${domain}" is not a registry host[:port]`);
  const path = hasDomain ? parts.slice(1) : parts;
  for (const c of path) {
    if (c === '') throw new Error('has an empty path component');
    if (c !== c.toLowerCase()) throw new Error('repository name must be lowercase');
    if (!new RegExp(`^${COMPONENT}$`).test(c))
      throw new Error(
        `"${c}" is not a repository path component (lower-case letters and digits, separated by . _ __ or -)`,
      );
  }
  return { domain, path: path.join('/'), tag, digest };
}
