import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { BrowserRouter } from 'react-router';
import 'nhsuk-frontend/dist/nhsuk/nhsuk-frontend.min.css';
import './styles.css';
import { App } from './App.tsx';

// nhsuk-frontend's styles key some behaviour on this class (as its own template sets it).
document.body.classList.add('js-enabled', 'nhsuk-frontend-supported');

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <BrowserRouter>
      <App />
    </BrowserRouter>
  </StrictMode>,
);
