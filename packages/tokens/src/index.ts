export {
  createAccessTokenVerifier,
  looksLikeJwt,
  tokenErrors,
  type AccessTokenClaims,
  type AccessTokenVerifier,
  type AccessTokenVerifierOptions,
  type KeySource,
} from './access-token-verifier';
